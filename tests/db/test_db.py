"""The async data layer: engine per app, SQLite pragmas, `g.db` made lazily."""

import pytest
from quart import Quart, g
from sqlalchemy import text

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
    """The versions question and the readiness probe only read, one statement each; in
    autocommit, the pool's pre-ping is one round trip, not three (BEGIN, ping,
    ROLLBACK), before nearly every request's question."""
    control = db.control_engine(app)
    assert control is not db.engine(app)
    async with control.connect() as conn:
        # SQLAlchemy's asyncpg adapter: no transaction of its own, so a one-trip ping.
        assert (await conn.get_raw_connection()).dbapi_connection.isolation_level == "autocommit"
        assert control.pool._pre_ping  # noqa: SLF001 (no public accessor): dead ones replaced
    async with db.engine(app).connect() as conn:  # requests write in transactions
        assert (await conn.get_raw_connection()).dbapi_connection.isolation_level != "autocommit"
