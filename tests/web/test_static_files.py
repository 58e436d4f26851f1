"""Static files at URLs that name their content (`web.static_files`): every static URL
a page carries names its file's fingerprint; that URL is kept a year, any other is
revalidated each time; a revalidation is a 304; development follows edits."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from quart import Quart, url_for

import guestbook
from guestbook import create_app
from guestbook.web.static_files import Fingerprints
from support import PRODUCTION, member, page_text

STATIC = Path(guestbook.__file__).parent / "static"
A_YEAR = "public, max-age=31536000, immutable"
STATIC_URL = re.compile(r'(?:href|src)="(/static/[^"]*)"')


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def fingerprint(name: str) -> str:
    return sha((STATIC / name).read_bytes())


async def static_urls(client: Any, path: str) -> list[str]:
    response = await client.get(path)
    assert response.status_code == 200, path
    return STATIC_URL.findall(await page_text(response))


async def test_every_static_url_on_a_page_names_its_files_content(app: Quart) -> None:
    writer = await member(app, "writer")
    reader = app.test_client()
    named = set()
    for client, path in [
        (reader, "/"),
        (reader, "/auth/login"),
        (reader, "/users/writer"),
        (reader, "/api/docs"),
        (writer, "/"),
        (writer, "/account/sessions"),
    ]:
        for url in await static_urls(client, path):
            name, _, version = url.removeprefix("/static/").partition("?v=")
            assert version == fingerprint(name), url
            named.add(name)
    assert {"style.css", "site.js", "live.js", "popup.js", "swagger-ui-bundle.js"} <= named


async def assert_kept_a_year(client: Any, production: bool = False) -> None:
    for url in await static_urls(client, "/"):
        name = url.removeprefix("/static/").partition("?")[0]
        response = await client.get(url)
        assert response.status_code == 200, url
        assert await response.get_data() == (STATIC / name).read_bytes(), url
        assert response.headers["Cache-Control"] == A_YEAR, url
        assert response.headers["ETag"] == f'"{fingerprint(name)}"', url
        assert "Expires" not in response.headers  # Cache-Control alone says how long
        assert "Set-Cookie" not in response.headers  # else no shared cache keeps it
        assert ("Strict-Transport-Security" in response.headers) is production
        again = await client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304, url
        assert await again.get_data() == b""


async def test_the_url_a_page_names_is_kept_a_year_and_revalidated_by_its_fingerprint(
    client: Any,
) -> None:
    await assert_kept_a_year(client)


async def test_the_same_under_production_settings(
    app: Quart, settings_overrides: dict[str, Any]
) -> None:
    production = create_app({**settings_overrides, **PRODUCTION})
    async with production.test_app():
        await assert_kept_a_year(production.test_client(), production=True)


@pytest.mark.parametrize("query", ["", "?v=0123456789abcdef", "?v="])
async def test_any_other_url_of_a_static_file_is_revalidated_each_time(
    client: Any, query: str
) -> None:
    """No `v`, or another release's (a page rendered before a release asks for the new
    file): the file as it is now, which no cache may keep as that URL's."""
    response = await client.get(f"/static/live.js{query}")
    assert response.status_code == 200
    assert await response.get_data() == (STATIC / "live.js").read_bytes()
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"] == f'"{fingerprint("live.js")}"'
    unchanged = await client.get(
        f"/static/live.js{query}", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert unchanged.status_code == 304
    # Only the fingerprint validates: not a date, which differs from host to host.
    stale = await client.get(
        f"/static/live.js{query}",
        headers={"If-None-Match": '"old"', "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    )
    assert stale.status_code == 200
    assert "Last-Modified" not in stale.headers
    assert await stale.get_data() == (STATIC / "live.js").read_bytes()


async def test_a_range_of_a_static_file(client: Any) -> None:
    response = await client.get("/static/style.css", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert await response.get_data() == (STATIC / "style.css").read_bytes()[:10]


async def test_a_missing_file_is_a_404_and_its_url_names_nothing(app: Quart, client: Any) -> None:
    async with app.test_request_context("/"):
        assert url_for("static", filename="nope.css") == "/static/nope.css"
        assert url_for("static", filename="site.js", v="mine") == "/static/site.js?v=mine"
    for path in ["/static/nope.css", "/static/../config.py", "/static/%2e%2e/config.py"]:
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html", path  # the site's error page


def test_a_file_changed_under_a_running_app_gets_a_new_fingerprint(tmp_path: Path) -> None:
    """An upgrade in place before the restart: the URL and the bytes stay together."""
    folder = tmp_path / "static"
    (folder / "js").mkdir(parents=True)
    (folder / "a.css").write_bytes(b"one")
    (folder / "js" / "b.js").write_bytes(b"two")
    (tmp_path / "secret").write_bytes(b"outside")
    taken = Fingerprints(folder)
    assert taken.of("a.css") == sha(b"one")
    assert taken.of("js/b.js") == sha(b"two")

    (folder / "a.css").write_bytes(b"three")  # another size: a new stamp on any clock
    (folder / "c.js").write_bytes(b"new")
    assert taken.of("a.css") == sha(b"three")
    assert taken.of("c.js") == sha(b"new")
    (folder / "c.js").unlink()
    for outside in ["../secret", "missing.css", "js", "c.js", "/etc/passwd"]:
        assert taken.of(outside) is None, outside
