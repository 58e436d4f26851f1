"""Fixtures in the shape of Flask's tutorial: `app`, `client` and an `auth` helper.

Every test gets a fresh database: a new SQLite file, or (with
GUESTBOOK_TEST_DATABASE=postgres) a PostgreSQL database made for this test run
and emptied before each test. The app runs inside `async with app.test_app()` so
its startup and shutdown hooks run as under a real server.
"""

from __future__ import annotations

import asyncio
import email.policy
import html
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from guestbook import create_app, db
from guestbook.config import Settings
from guestbook.models import Base, Message, User

PG_ADMIN_URL = os.environ.get(
    "GUESTBOOK_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
ON_POSTGRES = os.environ.get("GUESTBOOK_TEST_DATABASE", "sqlite") == "postgres"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Cheap hashing in tests: the cost is a setting, the code path is the same.
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
PASSWORD = "correct horse"  # every test member's password
# On top of `settings_overrides`: production, served on a loopback host of its own.
PRODUCTION = {
    "env": "production",
    "secret_key": "k" * 32,
    "allow_sqlite": True,
    "base_url": "https://localhost",  # production answers its own host only
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each pass runs what belongs to it: `postgres_only` tests are deselected (not
    skipped) in the SQLite pass, `sqlite_only` ones in the PostgreSQL pass."""
    wrong_pass = "sqlite_only" if ON_POSTGRES else "postgres_only"
    keep = [item for item in items if item.get_closest_marker(wrong_pass) is None]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def pytest_report_header() -> str:
    return f"guestbook test database: {'postgresql' if ON_POSTGRES else 'sqlite'}"


class CSRFClient(QuartClient):
    """A test client that puts the session's CSRF token into every form it posts,
    as a browser submitting our forms would. `csrf=False` sends none."""

    async def csrf_token(self) -> str:
        async with self.session_transaction() as session:
            return session.setdefault("csrf_token", uuid.uuid4().hex)

    async def post(self, *args: Any, csrf: bool = True, **kwargs: Any):
        if csrf and "form" in kwargs and "csrf_token" not in kwargs["form"]:
            kwargs["form"] = {**kwargs["form"], "csrf_token": await self.csrf_token()}
        return await super().post(*args, **kwargs)


async def _pg_admin(statement: str) -> None:
    """Run one statement on the server's admin database (CREATE/DROP DATABASE)."""
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _create_pg_database(name: str) -> None:
    await _pg_admin(f'CREATE DATABASE "{name}"')


async def _drop_pg_database(name: str) -> None:
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this test run, dropped at the end. In CI a missing
    server fails the run; on a developer's machine the PostgreSQL tests skip."""
    name = f"guestbook_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_create_pg_database(name))
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        yield pg_url(name)
    finally:
        asyncio.run(_drop_pg_database(name))


@contextmanager
def own_database(tmp_path: Path, prefix: str) -> Iterator[str]:
    """A database of the pass's kind that one test has to itself: a SQLite file, or a
    PostgreSQL database dropped afterwards (for tests that migrate or serve it)."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / f'{prefix}.sqlite3'}"
        return
    name = f"guestbook_{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_pg_database(name))
    try:
        yield pg_url(name)
    finally:
        asyncio.run(_drop_pg_database(name))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if ON_POSTGRES:
        return request.getfixturevalue("pg_database")
    return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture
def settings_overrides(database_url: str, tmp_path) -> dict[str, Any]:
    """What `app` passes to create_app; a test module may override this fixture."""
    return {
        "env": "testing",
        "database_url": database_url,
        "instance_path": tmp_path / "instance",
        "mail_backend": "null",
        # The `auth` helper posts the signup form without showing it first; the render
        # time rule has its own tests (test_spam.py).
        "signup_min_seconds": 0,
        **FAST_HASHING,
    }


async def reset_schema(app: Quart) -> None:
    async with db.engine(app).begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)


@asynccontextmanager
async def serving(config: Settings | dict[str, Any]) -> AsyncIterator[Quart]:
    """`create_app(config)` with its startup and shutdown hooks running, as under a real
    server, and `CSRFClient` as its test client."""
    app = create_app(config)
    app.test_client_class = CSRFClient
    async with app.test_app():
        yield app


@pytest.fixture
async def app(settings_overrides: dict[str, Any]) -> AsyncIterator[Quart]:
    async with serving(settings_overrides) as app:
        await reset_schema(app)
        yield app


@pytest.fixture
def client(app: Quart) -> CSRFClient:
    return app.test_client()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


class AuthActions:
    """flaskr's `auth` fixture: sign up, log in and log out through the real forms."""

    def __init__(self, client: CSRFClient) -> None:
        self.client = client

    async def signup(
        self, username: str = "alice", password: str = PASSWORD, email: str | None = None
    ):
        return await self.client.post(
            "/auth/signup",
            form={
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
                "password_confirm": password,
            },
        )

    async def login(self, username: str = "alice", password: str = PASSWORD, **extra: str):
        return await self.client.post(
            "/auth/login", form={"username": username, "password": password, **extra}
        )

    async def logout(self):
        return await self.client.post("/auth/logout", form={})


@pytest.fixture
def auth(client: CSRFClient) -> AuthActions:
    return AuthActions(client)


class Seed:
    """Members and messages written straight to the database, for tests about what the
    pages show rather than about signing up (flaskr's `data.sql`). Each member's
    password is `PASSWORD`, so `auth.login(name)` logs them in."""

    _hash = PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)

    def __init__(self, app: Quart) -> None:
        self.app = app

    async def member(self, username: str = "alice", *messages: str) -> User:
        """A member who wrote `messages`, oldest first."""
        async with db.sessionmaker(self.app)() as session:
            user = User(
                username=username, email=f"{username}@example.com", password_hash=self._hash
            )
            session.add(user)
            await session.flush()
            for body in messages:
                session.add(Message(body=body, writer_id=user.id))
                await session.flush()  # one at a time: ids keep the order written
            await session.commit()
        return user


@pytest.fixture
def seed(app: Quart) -> Seed:
    return Seed(app)


async def page_text(response) -> str:
    return await response.get_data(as_text=True)


async def visible_text(response) -> str:
    """What a person reads on the page: no tags, entities decoded, spaces collapsed."""
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>|<[^>]+>", " ", await page_text(response))
    return " ".join(html.unescape(page).split())


# --- a real SMTP server for the mail tests (and the browser tests) ------------------


class SMTPTestServer:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives.

    It runs in a thread with its own event loop, so it serves sync tests, async tests
    and apps served by hypercorn in another thread or process alike. Point an app at it
    with the settings `{"mail_backend": "smtp", "smtp_host": server.host,
    "smtp_port": server.port}`.

    - `messages`: the delivered mails as `email.message.EmailMessage`, in arrival
      order; `envelopes`: the matching `(mail_from, rcpt_tos)` of each.
    - `wait(count, timeout=10)`: block until at least `count` mails have arrived and
      return them. For sync tests; it blocks the calling thread.
    - `await wait_async(count, timeout=10)`: the same for async tests, without blocking
      the event loop (an app under test in this loop sends from it).
    - `stop()` / `start()`: take the server down (connections are refused) and bring it
      back on the same port, for "SMTP is down" tests. Received mails are kept.
    """

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port: int = probe.getsockname()[1]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> None:
        assert self._controller is None, "already running"
        # A new controller each time: a stopped one has closed its event loop.
        self._controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=30)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(self._short(count, timeout))
            return list(self.messages)

    async def wait_async(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(self._short(count, timeout))
            await asyncio.sleep(0.02)
        return list(self.messages)

    def _short(self, count: int, timeout: float) -> str:
        return f"expected {count} mail(s) within {timeout} s, got {len(self.messages)}"


@pytest.fixture
def smtp_server() -> Iterator[SMTPTestServer]:
    """A running `SMTPTestServer`, stopped after the test (see the class for its use)."""
    server = SMTPTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
