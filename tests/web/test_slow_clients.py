"""A slow client holds nothing but its own socket: every request's body is read (and
bounded in time) before any step can take a database connection.

Live: a real server, and a raw socket per POST route (enumerated from the URL map, the
CSRF token in the header and in the form) that sends its head and part of its body and
holds; meanwhile pages that need the database answer at once. 30 held bodies are more
than a PostgreSQL pool holds (10 + 10) and 30 times SQLite's one connection.
In-process: a body that never ends gets the 408 page, with no connection taken.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart

from guestbook import create_app, db
from servers import LiveServer, migrate
from support import PASSWORD, csrf_from, http_scope, own_database

HELD = 30


@pytest.fixture
def live_database(tmp_path: Path) -> Iterator[str]:
    with own_database(tmp_path, "slow") as url:
        yield url


def post_paths(values: dict[str, Any]) -> list[str]:
    """Every POST route of the app, built with real ids and a real reset token."""
    app = create_app({"env": "testing", "database_url": "sqlite+aiosqlite://"})
    adapter = app.url_map.bind("localhost")
    return sorted(
        adapter.build(rule.endpoint, {name: values[name] for name in rule.arguments}, method="POST")
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ())
    )


def member(server: LiveServer) -> tuple[httpx.Client, str]:
    """A browser logged in as alice (with one message), and its CSRF token."""
    browser = httpx.Client(base_url=server.url, timeout=10)
    token = csrf_from(browser.get("/auth/signup").text)
    fields = {"username": "alice", "email": "alice@example.com"}
    signup = {**fields, "password": PASSWORD, "password_confirm": PASSWORD, "csrf_token": token}
    assert browser.post("/auth/signup", data=signup).status_code == 302
    token = csrf_from(browser.get("/").text)
    assert browser.post("/messages", data={"body": "hi", "csrf_token": token}).status_code == 302
    return browser, token


def reset_token(server: LiveServer, browser: httpx.Client, token: str) -> str:
    """A real reset link's token, from the console backend's .eml file."""
    browser.post("/auth/forgot", data={"email": "alice@example.com", "csrf_token": token})
    outbox = server.workdir / "instance" / "outbox"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for mail in outbox.glob("*.eml") if outbox.exists() else ():
            if found := re.search(r"/auth/reset/([\w.-]+)", mail.read_text()):
                return found[1]
        time.sleep(0.1)
    raise AssertionError(f"no reset mail in {outbox}:\n{server.log()}")


def hold(port: int, path: str, cookies: str, token: str) -> socket.socket:
    """A POST whose head and first bytes of body are sent, and the rest never."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookies}\r\n"
        f"X-CSRFToken: {token}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + f"csrf_token={token}&body=".encode())
    return sock


def test_held_bodies_stall_no_page(live_database: str, tmp_path: Path) -> None:
    env = {
        "GUESTBOOK_DATABASE_URL": live_database,
        "GUESTBOOK_MAIL_BACKEND": "console",
        "GUESTBOOK_BODY_TIMEOUT": "60",  # longer than this test: only the fix can help
        "GUESTBOOK_SIGNUP_MIN_SECONDS": "0",  # the signup form is sent as soon as it is shown
        "GUESTBOOK_ARGON2_TIME_COST": "1",
        "GUESTBOOK_ARGON2_MEMORY_KIB": "1024",
    }
    migrate(env)
    with LiveServer(tmp_path, env) as server:
        browser, token = member(server)
        paths = post_paths(
            {
                "message_id": 1,
                "login_id": 1,
                "token_id": 1,
                "username": "alice",
                "token": reset_token(server, browser, token),
            }
        )
        assert "/messages/1/edit" in paths and any(p.startswith("/auth/reset/") for p in paths)
        cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        held = [hold(server.port, path, cookies, token) for path in islice(cycle(paths), HELD)]
        try:
            time.sleep(0.5)  # every held request has reached the app and waits for its body
            anonymous = httpx.Client(base_url=server.url, timeout=1)
            for client in (anonymous, browser):
                for path in ("/", "/users/alice", "/readyz"):
                    started = time.monotonic()
                    response = client.get(path, timeout=1)
                    assert response.status_code == 200, (path, response.text)
                    assert time.monotonic() - started < 1
        finally:
            for sock in held:
                sock.close()
        assert browser.get("/readyz").status_code == 200


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "body_timeout": 0.5}


# A GET that announces a body is held to the same rule (one that announces none has
# none to wait for: the step skips the wait).
@pytest.mark.parametrize("method, path", [("POST", "/auth/login"), ("GET", "/")])
async def test_a_body_that_never_ends_gets_408_and_takes_no_connection(
    app: Quart, method: str, path: str
):
    sent: list[dict] = []
    never = asyncio.Event()
    first = True

    async def receive() -> dict:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"body=he", "more_body": True}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [
        (b"host", b"localhost"),
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"content-length", b"100"),
    ]
    scope = http_scope(path, method, headers)
    task = asyncio.create_task(app(scope, receive, send))
    await asyncio.sleep(0.25)
    assert db.engine(app).pool.checkedout() == 0  # waiting for the body, holding nothing
    await asyncio.wait_for(task, 5)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 408
    assert b"Too slow" in body
