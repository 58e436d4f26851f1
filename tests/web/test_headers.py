"""Security headers on every answer: every page of the URL map, the static files, and
every error page (400 401 403 404 405 413 429 500 503); HSTS in production only.

The policy forbids inline script and style, so the pages are checked for both too:
an inline script would not be an XSS hole, it would simply not run.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
from quart import Quart

from guestbook import create_app
from support import GET_RULES, PASSWORD, PRODUCTION, AuthActions, CSRFClient, Scene, fill, page_text

Answer = tuple[str, Any]  # (what was asked, the response)


def assert_secure(response: Any, where: str, production: bool = False) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    directives = {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, where
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert directives.get("script-src", directives.get("default-src")) == ["'self'"], where
    assert directives.get("object-src") == ["'none'"], where
    assert directives.get("base-uri") == ["'none'"], where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), where
    hsts = headers.get("Strict-Transport-Security")
    if production:
        assert hsts and int(re.search(r"max-age=(\d+)", hsts)[1]) >= 180 * 86400, where
    else:  # HSTS on plain-http development hosts would lock browsers out of them
        assert hsts is None, where


class InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = [name for name, _ in attrs]
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(f"<{tag}>")
        self.found += [f"<{tag} {n}>" for n in names if n == "style" or n.startswith("on")]


async def assert_no_inline_code(response: Any, where: str) -> None:
    if response.mimetype == "text/html":
        parser = InlineCode()
        parser.feed(await page_text(response))
        assert not parser.found, f"{where}: the policy would block {parser.found}"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "login_limit": 2}


async def pages(scene: Scene) -> AsyncIterator[Answer]:
    """Every GET rule of the URL map (static files included), logged in and not."""
    values = await scene.values()
    for rule in GET_RULES:
        for who, client in (("alice", scene.laptop), ("anonymous", scene.app.test_client())):
            yield f"{who} GET {rule}", await client.get(fill(rule, values))


async def error_pages(scene: Scene) -> AsyncIterator[Answer]:
    app, laptop = scene.app, scene.laptop
    stranger: CSRFClient = app.test_client()
    await AuthActions(stranger).signup("mallory", PASSWORD)
    message = (await scene.values())["message_id"]
    yield "400 no CSRF token", await laptop.post("/messages", form={"body": "x"}, csrf=False)
    yield "400 bad cursor", await laptop.get("/?before=garbage")
    yield "401 wrong password", await AuthActions(app.test_client()).login("alice", "wrong!")
    yield "403 not yours", await stranger.get(f"/messages/{message}/edit")
    yield "404", await laptop.get("/no/such/page")
    yield "405", await laptop.get("/auth/logout")
    yield "413", await laptop.post("/messages", form={"body": "x" * 100_000})
    for _ in range(2):
        await AuthActions(app.test_client()).login("alice", "wrong!")
    yield "429", await AuthActions(app.test_client()).login("alice", "wrong!")


async def test_every_page_and_static_file(scene: Scene) -> None:
    statuses = set()
    async for where, response in pages(scene):
        statuses.add(response.status_code)
        assert_secure(response, where)
        await assert_no_inline_code(response, where)
        if response.mimetype == "text/html" and where.startswith("alice"):
            # Pages carry the menu and a CSRF token: no shared cache may keep them.
            cache = response.headers.get("Cache-Control", "")
            assert "private" in cache or "no-store" in cache, where
    assert 200 in statuses


async def test_static_files_have_their_real_types(client: CSRFClient) -> None:
    """nosniff makes a browser refuse a script or style sheet served with the wrong type."""
    css = await client.get("/static/style.css")
    js = await client.get("/static/popup.js")
    assert css.mimetype == "text/css"
    assert js.mimetype in ("text/javascript", "application/javascript")


async def test_every_error_page(scene: Scene) -> None:
    seen = set()
    async for where, response in error_pages(scene):
        assert where.startswith(str(response.status_code)), (where, response.status_code)
        seen.add(response.status_code)
        assert_secure(response, where)
        await assert_no_inline_code(response, where)
    assert seen == {400, 401, 403, 404, 405, 413, 429}


async def test_500_page(app: Quart, client: CSRFClient, monkeypatch) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(app.view_functions, "ops.healthz", broken)
    response = await client.get("/healthz")
    assert response.status_code == 500
    assert_secure(response, "500")


def closed_port() -> int:
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_503_pages_when_the_database_is_unreachable(settings_overrides: dict[str, Any]):
    url = f"postgresql+asyncpg://nobody@127.0.0.1:{closed_port()}/gone"
    app = create_app({**settings_overrides, "database_url": url, "db_connect_timeout": 2})
    async with app.test_app():
        client = app.test_client()
        for path in ("/", "/readyz"):
            response = await client.get(path)
            assert response.status_code == 503, path
            assert_secure(response, f"503 {path}")


async def test_hsts_in_production_on_pages_static_files_and_errors(
    app: Quart, settings_overrides: dict[str, Any]
) -> None:
    production = create_app({**settings_overrides, **PRODUCTION})
    async with production.test_app():
        client = production.test_client()
        for path, status in [
            ("/", 200),
            ("/auth/login", 200),
            ("/static/style.css", 200),
            ("/no/such/page", 404),
            ("/?before=garbage", 400),
        ]:
            response = await client.get(path)
            assert response.status_code == status, path
            assert_secure(response, f"production {path}", production=True)
        response = await client.post("/auth/login", form={"username": "x"})  # no CSRF token
        assert response.status_code == 400
        assert_secure(response, "production 400", production=True)


async def test_a_views_own_header_is_kept(app: Quart, client: CSRFClient) -> None:
    """The defaults fill in what a response lacks; a view that sets one decides it."""

    @app.get("/_test/cached")
    async def cached() -> tuple[str, dict[str, str]]:
        return "<p>same for all</p>", {"Cache-Control": "public, max-age=60"}

    response = await client.get("/_test/cached")
    assert response.headers.getlist("Cache-Control") == ["public, max-age=60"]
    assert response.headers["X-Frame-Options"] == "DENY"  # the rest still added
