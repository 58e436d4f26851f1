"""What the app trusts: only its own host names, heads of bounded size, CSRF tokens
issued with the login cookie they come with, one login per browser; and what it never
writes down: reset tokens in access logs, mail links in production."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from hypercorn.config import Config as HypercornConfig
from hypercorn.logging import Logger as HypercornLogger
from quart import Quart
from sqlalchemy import select

from guestbook import create_app, db
from guestbook.config import ConfigError, Settings
from guestbook.models import LoginSession
from support import PASSWORD, AuthActions, CSRFClient, cookie, signed_in_as


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "allowed_hosts": "localhost,guestbook.example.org"}


# --- hosts and heads ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "status"),
    [("localhost", 200), ("guestbook.example.org:8443", 200), ("evil.example", 400)],
)
async def test_only_allowed_host_names_are_answered(client: CSRFClient, host: str, status: int):
    response = await client.get("/", headers={"Host": host})
    assert response.status_code == status


def test_production_answers_its_base_urls_host_by_default():
    settings = Settings(
        env="production",
        secret_key="s" * 32,
        database_url="postgresql+asyncpg://db/guestbook",
        base_url="https://guestbook.example.org",
        mail_backend="smtp",
    ).checked()
    assert settings.hosts == {"guestbook.example.org"}
    assert Settings(env="development").checked().hosts == frozenset()  # any, in development


@pytest.mark.parametrize("path", ["/users//mallory", "//users//mallory"])
async def test_the_double_slash_redirect_never_names_the_host(settings_overrides: dict, path: str):
    app = create_app({**settings_overrides, "allowed_hosts": ""})  # any host, as in development
    async with app.test_app():
        response = await app.test_client().get(
            "/", headers={"Host": "evil.com"}, scope_base={"path": path, "raw_path": path.encode()}
        )
    assert response.status_code == 308
    assert response.headers["Location"] == "/users/mallory"


@pytest.mark.parametrize(("size", "status"), [(15 * 1024, 200), (17 * 1024, 431)])
async def test_a_head_above_the_limit_gets_431(client: CSRFClient, size: int, status: int):
    """Whole heads count (hypercorn only measures heads that arrive in pieces)."""
    response = await client.get("/healthz", headers={"X-Padding": "a" * size})
    assert response.status_code == status


# --- CSRF tokens belong to the login ----------------------------------------------------


@pytest.fixture
async def alice(app: Quart) -> CSRFClient:
    browser = app.test_client()
    await AuthActions(browser).signup("alice", PASSWORD)
    return browser


async def test_another_visitors_session_and_token_fail_with_my_login_cookie(
    app: Quart, alice: CSRFClient
):
    visitor = app.test_client()
    await visitor.get("/")
    token = await visitor.csrf_token()
    visitor.set_cookie("localhost", "gb_login", cookie(alice, "gb_login"))
    response = await visitor.post("/messages", form={"body": "x", "csrf_token": token})
    assert response.status_code == 400


async def test_a_session_from_before_the_login_is_refused_after_it(app: Quart):
    browser = app.test_client()
    await AuthActions(browser).signup("alice", PASSWORD)
    await AuthActions(browser).logout()
    await browser.get("/auth/login")
    before, token = cookie(browser, "gb_session"), await browser.csrf_token()
    await AuthActions(browser).login("alice", PASSWORD)
    browser.set_cookie("localhost", "gb_session", before)  # kept, and put back
    response = await browser.post("/messages", form={"body": "x", "csrf_token": token})
    assert response.status_code == 400


async def test_a_remembered_login_without_its_session_gets_a_fresh_token(
    app: Quart, alice: CSRFClient
):
    """After a browser restart only the login cookie is left: the next page binds a
    new token to it, and forms work again."""
    browser = app.test_client()
    browser.set_cookie("localhost", "gb_login", cookie(alice, "gb_login"))
    await browser.get("/")
    response = await browser.post("/messages", form={"body": "after a restart"})
    assert response.status_code == 302


# --- one login per browser -----------------------------------------------------------------


async def test_logging_in_over_a_login_ends_the_earlier_one(app: Quart, alice: CSRFClient):
    alices_cookie = cookie(alice, "gb_login")
    await AuthActions(app.test_client()).signup("bob", PASSWORD)
    assert (await AuthActions(alice).login("bob", PASSWORD)).status_code == 302
    assert await signed_in_as(alice) == "bob"
    async with db.sessionmaker(app)() as session:
        rows = (await session.scalars(select(LoginSession))).all()
    assert sorted(row.user.username for row in rows) == ["bob", "bob"]  # bob's signup, login
    copy = app.test_client()
    copy.set_cookie("localhost", "gb_login", alices_cookie)
    assert await signed_in_as(copy) is None


# --- nothing secret in logs -----------------------------------------------------------------


async def test_the_access_log_shows_reset_paths_without_their_token(app: Quart):
    """hypercorn's own access logger, as `guestbook serve` configures it."""
    config = HypercornConfig()
    config.accesslog = logging.getLogger("hypercorn.access")  # the app put its filter here
    config.access_log_format = '"%(r)s" %(s)s "%(f)s"'
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    config.accesslog.addHandler(handler)
    config.accesslog.setLevel(logging.INFO)
    token = "WzEsImFiYyJd.Z2VuZXJhdGVk.c2lnbmF0dXJl"
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": f"/auth/reset/{token}",
        "query_string": b"",
        "headers": [(b"referer", f"https://guestbook.example.org/auth/reset/{token}".encode())],
        "client": ("192.0.2.1", 5000),
    }
    try:
        await HypercornLogger(config).access(scope, {"status": 302, "headers": []}, 0.01)
    finally:
        config.accesslog.removeHandler(handler)
    line = stream.getvalue()
    assert token not in line
    assert '"POST /auth/reset/... 1.1" 302 "https://guestbook.example.org/auth/reset/..."' in line


@pytest.mark.parametrize(
    ("backend", "message"),
    [("", "GUESTBOOK_MAIL_BACKEND must be set in production"), ("console", "reset links")],
)
def test_production_refuses_to_start_with_a_mail_backend_that_logs_links(
    backend: str, message: str
):
    with pytest.raises(ConfigError, match=message):
        Settings(
            env="production",
            secret_key="s" * 32,
            database_url="postgresql+asyncpg://db/guestbook",
            mail_backend=backend,
        ).checked()
