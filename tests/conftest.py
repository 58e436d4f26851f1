"""Fixtures in the shape of Flask's tutorial: `app`, `client` and an `auth` helper.

Every test gets a fresh database: a new SQLite file, or (with
GUESTBOOK_TEST_DATABASE=postgres) a PostgreSQL database made for this test run
and emptied before each test. The app runs inside `async with app.test_app()` so
its startup and shutdown hooks run as under a real server.

Only fixtures and pytest's hooks are here, for every folder of tests/; the helpers
they and the tests share are in support.py (and servers.py for real server processes).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from quart import Quart

from guestbook.limits import ratelimit
from servers import migrate
from support import (
    FAST_HASHING,
    IN_CI,
    ON_POSTGRES,
    PG_ADMIN_URL,
    AuthActions,
    CSRFClient,
    Scene,
    Seed,
    SMTPTestServer,
    _create_pg_database,
    _drop_pg_database,
    _unavailable,
    pg_url,
    production_env,
    reset_schema,
    serving,
)

REDIS_URL = os.environ.get("GUESTBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


@pytest.fixture(scope="session", autouse=True)
def compiled_templates_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Production apps and servers load their templates compiled by a child process, once
    per folder (`web.compiled_templates`): one folder for the run, not one per test
    (tests/web/test_compiled_templates.py gives its own)."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("compiled-templates")
        patch.setenv("GUESTBOOK_COMPILED_TEMPLATES_PATH", str(folder))
        yield


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
        # time rule has its own tests (limits/test_spam.py).
        "signup_min_seconds": 0,
        # Every test member is minutes old; reporters' standing has its own tests
        # (moderation/test_standing.py).
        "reporter_min_hours": 0,
        **FAST_HASHING,
    }


@pytest.fixture(autouse=True)
def steady_limit_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rate limits count in fixed windows of wall-clock time; a test that crossed a
    window's edge (a minute's, on a slow machine) would see its counts start over.
    Each test's windows stand still; tests of the windows move the clock themselves."""
    frozen = time.time()
    monkeypatch.setattr(ratelimit, "time", _Clock(frozen))


class _Clock:
    """`time` for the rate limiter: wall-clock time stands at `now`; monotonic runs."""

    monotonic = staticmethod(time.monotonic)

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
async def app(settings_overrides: dict[str, Any]) -> AsyncIterator[Quart]:
    async with serving(settings_overrides) as app:
        await reset_schema(app)
        yield app


@pytest.fixture
def client(app: Quart) -> CSRFClient:
    return app.test_client()


@pytest.fixture
def auth(client: CSRFClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def seed(app: Quart) -> Seed:
    return Seed(app)


@pytest.fixture
async def scene(app: Quart) -> Scene:
    return await Scene(app).setup()


@pytest.fixture
def smtp_server() -> Iterator[SMTPTestServer]:
    """A running `SMTPTestServer`, stopped after the test (see the class for its use)."""
    server = SMTPTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_url() -> str:
    """The Redis server; in CI its absence is a failure, elsewhere a skip."""
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI but unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture(scope="module")
def shared_database() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated by `guestbook db upgrade`, dropped after."""
    name = f"guestbook_live_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_create_pg_database(name))
    except OSError as exc:
        _unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        migrate(production_env(pg_url(name)))
        yield pg_url(name)
    finally:
        asyncio.run(_drop_pg_database(name))
