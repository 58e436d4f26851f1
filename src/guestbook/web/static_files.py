"""Static files at URLs that name their content: kept a year, never stale.

`url_for("static", filename=...)` adds `?v=` and the file's fingerprint (a URL
default, Flask's own way to add a value to every URL of an endpoint). A request that
asks for the fingerprint the file has is answered `immutable` for a year: browsers, and
the sample nginx for readers, never ask for it again, and a release that changes the
file changes its URL, so a page never runs an older script than it was rendered with
(`live.js` and the app change together). Any other request (no `v`, or another
release's) is answered `no-cache`: kept by no shared cache, revalidated by the browser
each time.

The fingerprint is the one validator, as ETag: a revalidation is a 304, the same on
every host of a release. Quart's own route validates by the file's modification time
(`Last-Modified`, and an ETag made of it), which differs from host to host and goes
back on a rollback, and sends a 12-hour `max-age`.

Fingerprints are taken when the app is made; a file changed since (an upgrade in place
before the restart) is taken again when its URL is made or it is sent, so its URL and
its bytes never part.
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from quart import Quart, Response, current_app, request
from quart.helpers import send_from_directory
from werkzeug.security import safe_join

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

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: dict[str, tuple[tuple[int, int], str]] = {}
        for path in folder.rglob("*"):
            if (stamp := _stamp(path)) is not None:
                self.taken[path.relative_to(folder).as_posix()] = (stamp, fingerprint_of(path))

    def of(self, filename: str) -> str | None:
        """The fingerprint of the file named `filename` under the folder as it is now;
        None for a file it does not hold."""
        joined = safe_join(str(self.folder), filename)  # None: it names a file outside
        path = None if joined is None else Path(joined)
        stamp = None if path is None else _stamp(path)
        if path is None or stamp is None:
            return None
        found = self.taken.get(filename)
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
    response = await send_from_directory(
        app.static_folder, filename, add_etags=False, conditional=False
    )
    del response.headers["Last-Modified"]  # the fingerprint alone validates (above)
    fingerprint = _fingerprints(app).of(filename)
    if fingerprint is not None:
        response.set_etag(fingerprint)
    asked = request.args.get("v")
    immutable = fingerprint is not None and asked == fingerprint
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATED
    return await response.make_conditional(
        request, accept_ranges=True, complete_length=response.content_length
    )


def init_app(app: Quart) -> None:
    folder = Path(app.static_folder)  # type: ignore[arg-type] (the package's, always set)
    app.extensions[_EXT] = Fingerprints(folder)
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = None  # no Expires: the Cache-Control above says
    app.url_defaults(_add_fingerprint)
    app.view_functions["static"] = send_static_file
