"""The database: the engine and sessionmaker of one app, and `g.db`, one AsyncSession
per request. Beside it: SQLite's fair pool, the group commit, the triggers' DDL.
May import `config`, `models` and `lib`; nothing of the web or of a feature.

Flask-SQLAlchemy gives you `db.session`, scoped to the request behind your back.
Here the scope is visible: `g.db` is made on first use in a request and closed in
`teardown_request`, rolled back if the request failed. Work outside a request
(the mail sender, the CLI) opens its own session with `sessionmaker(app)()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from quart import Quart, current_app, g
from quart.ctx import _AppCtxGlobals
from sqlalchemy import Insert, event, exc, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from werkzeug.routing import IntegerConverter, Map

from guestbook.config import Pool, Settings
from guestbook.db import sqlite_pool, triggers  # noqa: F401 (triggers: create_all's DDL)
from guestbook.db.metered import MeteredQueuePool, sampling
from guestbook.models import ID_MAX

_EXT = "guestbook.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# SQLite's page cache, per connection (its default is 2,000 KiB): writes fill it with
# pages no page reads again, and it is memory the worker keeps. Pages not in it come
# from the operating system's file cache; what pages show is kept above it anyway
# (`cache.versions`). bench/RESULTS.md, "Page workers' memory".
SQLITE_CACHE_KIB = 512
# Two connections, and a short wait for one: the control questions are tiny.
CONTROL_POOL = Pool(pool_size=2, max_overflow=0, pool_timeout=2)


def make_engine(settings: Settings, pool: Pool | None = None, **options: Any) -> AsyncEngine:
    """The app's engine, with the pool of `settings` or `pool` (PostgreSQL), and
    SQLAlchemy's `options`."""
    if settings.is_sqlite:
        return _sqlite_engine(settings.database_url)
    pool = pool or settings.db
    engine = create_async_engine(
        settings.database_url,
        poolclass=MeteredQueuePool,
        pool_size=pool.pool_size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.pool_timeout,
        connect_args={
            "timeout": settings.db.connect_timeout,
            "server_settings": {"statement_timeout": str(settings.db.statement_timeout_ms)},
        },
        **options,
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed)
    return engine


def _replace_if_closed(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection the server or a proxy closed (a restart, an idle timeout) is
    replaced, not handed out, so the app recovers without a restart. asyncpg knows it
    from its socket, at no cost; SQLAlchemy's `pool_pre_ping` asks the server instead,
    three round trips in a transaction (BEGIN, the ping, ROLLBACK) before every
    checkout's first statement (bench/RESULTS.md, "Checkouts without a ping")."""
    if record.driver_connection.is_closed():
        # SQLAlchemy's documented answer (PoolEvents.checkout): this connection is
        # dropped and a fresh one checked out in its place.
        raise exc.DisconnectionError("the database closed this connection")


def _sqlite_engine(url: str) -> AsyncEngine:
    # One connection per process: SQLite allows one writer at a time anyway, and a
    # pool of connections only turns waiting in line into "database is locked"
    # retries (see bench/RESULTS.md). Requests queue for it in the pool, fairly.
    engine = create_async_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=30,
        poolclass=sqlite_pool.FairPool,
        pool_reset_on_return=None,  # `_rollback_if_begun` instead
    )

    @event.listens_for(engine.sync_engine, "reset")
    def _rollback_if_begun(_dbapi_connection: Any, record: Any, state: Any) -> None:
        # SQLAlchemy's own reset rolls back every connection given back: a trip to
        # aiosqlite's thread each time, where sqlite3 does nothing unless a transaction
        # is open, and the versions question (`driver_row`) opens none. Where asyncio
        # can await, as SQLAlchemy's; its documented way to replace it (PoolEvents.reset).
        if state.asyncio_safe and record.driver_connection.in_transaction:
            record.dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: in KiB
        if ":memory:" not in url:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, far fewer fsyncs
        cursor.close()

    return engine


class RowIdConverter(IntegerConverter):
    """`<int:...>` in this app's routes: only numbers an id column can hold match, so
    /messages/99999999999999999999/edit is a 404, not an overflow error in the driver;
    and only in ASCII digits (werkzeug's `\\d` matches every script's), as every number
    from a client (`lib.numbers`)."""

    regex = r"[0-9]+"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)


@dataclass(frozen=True)
class Database:
    """What an app holds of its database, in `app.extensions`, while it serves. `control`
    is a pool of its own for the questions that must answer when requests have taken
    every connection of the main pool (a flood of uncached reads, a table lock): the
    content version that kept pages are served under, and the readiness probe. SQLite's
    one connection is both."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    control: AsyncEngine


def init_app(app: Quart, settings: Settings) -> None:
    """Make the engine when the app starts serving, dispose of it when it stops."""
    app.url_map.converters["int"] = RowIdConverter  # before any blueprint adds a route

    @app.before_serving
    async def _open_engine() -> None:
        if settings.is_sqlite:
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings)
        # The control questions only read, one statement each: no transaction.
        control = (
            engine
            if settings.is_sqlite
            else make_engine(settings, CONTROL_POOL, isolation_level="AUTOCOMMIT")
        )
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        app.extensions[_EXT] = Database(engine, sessions, control)

    @app.while_serving
    async def _sample_pools() -> AsyncIterator[None]:
        database: Database = app.extensions[_EXT]
        pools = {"main": database.engine}
        if database.control is not database.engine:
            pools["control"] = database.control
        async with sampling(pools):
            yield

    @app.after_serving
    async def _dispose_engine() -> None:
        database = app.extensions.pop(_EXT)
        await database.engine.dispose()
        if database.control is not database.engine:
            await database.control.dispose()

    @app.teardown_request
    async def _close_request_session(exc: BaseException | None) -> None:
        session: AsyncSession | None = g._get_current_object().__dict__.pop("_db", None)
        if session is None:
            return
        if exc is not None:
            await session.rollback()
        await session.close()


def engine(app: Quart | None = None) -> AsyncEngine:
    return (app or current_app).extensions[_EXT].engine


def control_engine(app: Quart | None = None) -> AsyncEngine:
    """The small pool of `Database.control`: for the versions question and `/readyz`."""
    return (app or current_app).extensions[_EXT].control


def sessionmaker(app: Quart | None = None) -> async_sessionmaker[AsyncSession]:
    """For work outside a request: `async with sessionmaker(app)() as session: ...`."""
    return (app or current_app).extensions[_EXT].sessionmaker


def request_session() -> AsyncSession | None:
    """This request's session if it made one, without making one."""
    return g._get_current_object().__dict__.get("_db")


async def release() -> None:
    """Give this request's connection back before slow work: a password hash, a
    render, another service. SQLite has one connection per process, and every other
    request waits for it meanwhile. Ends the transaction with a commit, not a
    rollback, which would expire what was loaded (`g.user`); changes must have been
    committed already, so a release never saves anything by accident."""
    session = request_session()
    if session is None or not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("release() with unsaved changes; commit them first")
    await session.commit()


def insert_if_new(session: AsyncSession, table: type) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect (both have it): a row
    that a concurrent writer added first is left as it is, with no error to roll back."""
    # Imported here, not with the app: the engine loads its own dialect, and
    # PostgreSQL's is 2 MB of memory that a SQLite worker never needs.
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql as dialect  # noqa: PLC0415
    else:
        from sqlalchemy.dialects import sqlite as dialect  # noqa: PLC0415
    return dialect.insert(table).on_conflict_do_nothing()


async def driver_row(conn: AsyncConnection, sql: str) -> tuple[Any, ...] | None:
    """The first row of a read-only `sql`, asked of the driver itself on `conn`: one
    trip to aiosqlite's thread (`execute_fetchall`), or one asyncpg round trip, where
    SQLAlchemy's execution takes four trips on SQLite. For the question nearly every
    request asks (`cache.versions`)."""
    driver = (await conn.get_raw_connection()).driver_connection
    if conn.dialect.name == "sqlite":
        rows = await driver.execute_fetchall(sql)
        return tuple(rows[0]) if rows else None
    row = await driver.fetchrow(sql)
    return None if row is None else tuple(row)


async def ping() -> None:
    """Raise if the database does not answer (for /readyz). On SQLite, asked on the
    request's own `g.db`: its one connection may be this request's already (the login
    cookie was looked up), and a second would wait for it until the timeout. Elsewhere
    on the control pool, which a flood of requests cannot take."""
    if engine().dialect.name == "sqlite":
        await g.db.execute(text("SELECT 1"))
        return
    async with control_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))


class RequestGlobals(_AppCtxGlobals):
    """Quart's `g`, with `g.db` made on first use: a page that never touches the
    database never takes a connection."""

    @property
    def db(self) -> AsyncSession:
        session = self.__dict__.get("_db")
        if session is None:
            session = self.__dict__["_db"] = sessionmaker()()
        return session
