"""Static files at URLs that name their content: kept a year, never stale.

`url_for("static", filename=...)` adds `?v=` and the file's fingerprint (a URL
default, Flask's own way to add a value to every URL of an endpoint). A request that
asks for the fingerprint the file has is answered `immutable` for a year: browsers, and
the sample nginx for readers, never ask for it again, and a release that changes the
file changes its URL, so a page never runs an older script than it was rendered with
(`live.js` and the app change together). Any other request (no `v`, or another
release's) is answered `no-cache`: kept by no shared cache, revalidated by the browser
each time.

Both carry the fingerprint as their ETag, so a revalidation is a 304, and two hosts
of one release agree on it. Quart's own answer sends the file whole every time, with a
12-hour `max-age` and an ETag made of its modification time.

Fingerprints are taken once, when the app is made; in development each URL takes its
file's again if it changed, as templates are read again there.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from quart import Quart, Response, current_app, request
from quart.helpers import send_from_directory

from guestbook.config import Settings

_EXT = "guestbook.web.static_files"
IMMUTABLE = f"public, max-age={365 * 24 * 3600}, immutable"
REVALIDATED = "no-cache"


def fingerprint_of(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of the file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _stamp(path: Path) -> tuple[int, int] | None:
    """What changes when the file does, without reading it; None: no such file."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size) if stat.S_ISREG(found.st_mode) else None


class Fingerprints:
    """The static folder's files' fingerprints, by their name under it."""

    def __init__(self, folder: Path, follow_edits: bool) -> None:
        self.folder, self.follow_edits = folder, follow_edits
        self.taken: dict[str, tuple[tuple[int, int], str]] = {}
        for path in folder.rglob("*"):
            if (stamp := _stamp(path)) is not None:
                self.taken[path.relative_to(folder).as_posix()] = (stamp, fingerprint_of(path))

    def of(self, filename: str) -> str | None:
        """The fingerprint of the file named `filename` under the folder; None for a
        file it does not hold."""
        found = self.taken.get(filename)
        if not self.follow_edits:
            return None if found is None else found[1]
        path = (self.folder / filename).resolve()
        if not path.is_relative_to(self.folder.resolve()):
            return None
        stamp = _stamp(path)
        if stamp is None:
            return None
        if found is None or found[0] != stamp:
            found = self.taken[filename] = (stamp, fingerprint_of(path))
        return found[1]


def _fingerprints(app: Quart) -> Fingerprints:
    return app.extensions[_EXT]


def _add_fingerprint(endpoint: str, values: dict) -> None:
    """A URL default: a static file's URL names the file's content."""
    if endpoint == "static" and "v" not in values and "filename" in values:
        fingerprint = _fingerprints(current_app._get_current_object()).of(values["filename"])
        if fingerprint is not None:
            values["v"] = fingerprint


async def send_static_file(filename: str) -> Response:
    """The static route's view: the file, with the caching its URL earns."""
    app = current_app._get_current_object()
    response = await send_from_directory(app.static_folder, filename, add_etags=False)
    fingerprint = _fingerprints(app).of(filename)
    if fingerprint is not None:
        response.set_etag(fingerprint)
    asked = request.args.get("v")
    immutable = fingerprint is not None and asked == fingerprint
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATED
    return await response.make_conditional(
        request, accept_ranges=True, complete_length=response.content_length
    )


def init_app(app: Quart, settings: Settings) -> None:
    folder = Path(app.static_folder)  # type: ignore[arg-type] (the package's, always set)
    app.extensions[_EXT] = Fingerprints(folder, follow_edits=settings.env == "development")
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = None  # no Expires: the Cache-Control above says
    app.url_defaults(_add_fingerprint)
    app.view_functions["static"] = send_static_file
