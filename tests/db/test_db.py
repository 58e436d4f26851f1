"""The async data layer: engine per app, SQLite pragmas, `g.db` made lazily."""

import asyncio

import asyncpg
import pytest
from quart import Quart, g
from sqlalchemy import text
from sqlalchemy.engine import make_url

from guestbook import create_app, db


@pytest.fixture
async def sqlite_app(settings_overrides: dict, tmp_path):  # noqa: ANN001, ANN201
    """SQLite whichever database this pass runs on: these tests are about SQLite."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pragmas.sqlite3'}"
    app = create_app({**settings_overrides, "database_url": url})
    async with app.test_app():
        yield app


async def test_sqlite_pragmas_are_set_on_every_connection(sqlite_app: Quart) -> None:
    app = sqlite_app
    # Two connections in a row: the pragmas come from the connect hook, not luck.
    for _ in range(2):
        async with db.engine(app).connect() as conn:
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA busy_timeout")) >= 5000
            # Negative: KiB, not pages. SQLite's own default (2,000 KiB) stays in a worker.
            assert await conn.scalar(text("PRAGMA cache_size")) == -db.SQLITE_CACHE_KIB
        await db.engine(app).dispose()


async def test_sqlite_uses_one_connection(sqlite_app: Quart) -> None:
    pool = db.engine(sqlite_app).pool
    assert pool.size() == 1
    assert pool._max_overflow == 0  # noqa: SLF001 (no public accessor)


async def test_engine_lives_from_startup_to_shutdown(settings_overrides: dict) -> None:
    app = create_app(settings_overrides)
    with pytest.raises(KeyError):
        db.engine(app)  # nothing made before the app starts serving
    async with app.test_app():
        engine = db.engine(app)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
    with pytest.raises(KeyError):
        db.engine(app)  # disposed and gone after shutdown


async def test_g_db_is_made_only_when_a_view_uses_it(app: Quart) -> None:
    seen: dict[str, bool] = {}

    @app.after_request
    async def record(response):  # noqa: ANN001, ANN202
        seen[g.request_id] = "_db" in g.__dict__
        return response

    client = app.test_client()
    await client.get("/healthz")  # touches no table
    await client.get("/")  # lists messages
    assert list(seen.values()) == [False, True]


async def test_g_db_is_one_session_per_request(app: Quart) -> None:
    sessions = []

    @app.get("/_test/twice")
    async def twice():  # noqa: ANN202
        sessions.extend([g.db, g.db])
        return "ok"

    client = app.test_client()
    await client.get("/_test/twice")
    await client.get("/_test/twice")
    assert sessions[0] is sessions[1]
    assert sessions[2] is not sessions[0]
    assert db.engine(app).pool.checkedout() == 0


@pytest.mark.postgres_only
async def test_the_control_pool_asks_without_a_transaction(app: Quart) -> None:
    """The versions question and the readiness probe only read, one statement each: in
    autocommit, the probe's `SELECT 1` is one round trip, not three (BEGIN, it,
    ROLLBACK)."""
    control = db.control_engine(app)
    assert control is not db.engine(app)
    async with control.connect() as conn:
        # SQLAlchemy's asyncpg adapter: no transaction of its own.
        assert (await conn.get_raw_connection()).dbapi_connection.isolation_level == "autocommit"
    async with db.engine(app).connect() as conn:  # requests write in transactions
        assert (await conn.get_raw_connection()).dbapi_connection.isolation_level != "autocommit"


@pytest.mark.postgres_only
@pytest.mark.parametrize("which", ["main", "control"])
async def test_a_connection_the_server_ended_is_replaced_without_asking(
    app: Quart, database_url: str, which: str
) -> None:
    """A connection PostgreSQL ended (a restart, an administrator) is never handed out:
    the next checkout gets a fresh one, though no checkout pings the server."""
    engine = db.engine(app) if which == "main" else db.control_engine(app)
    assert not engine.pool._pre_ping  # noqa: SLF001 (no public accessor): no round trip
    await engine.dispose()  # one connection in the pool: the next checkout gets it
    async with engine.connect() as conn:
        ended = (await conn.get_raw_connection()).driver_connection
        pid = ended.get_server_pid()
    admin = await asyncpg.connect(
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    for _ in range(200):  # the server's goodbye reaches the client's socket
        if ended.is_closed():
            break
        await asyncio.sleep(0.01)
    assert ended.is_closed()

    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1
        assert (await conn.get_raw_connection()).driver_connection.get_server_pid() != pid
