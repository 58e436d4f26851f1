"""The SQLite engine (`db.make_engine`, `guestbook.sqlite`): aiosqlite's answers and
transactions, and a pool that hands its one connection over fairly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from guestbook import db
from guestbook.config import Settings
from guestbook.db import make_engine, sqlite_pool

pytestmark = pytest.mark.sqlite_only  # its own SQLite file, whatever the test database


@pytest.fixture
async def engine(tmp_path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(env="testing", database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = make_engine(settings.checked())
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
    yield engine
    await engine.dispose()


async def test_the_engine_has_one_connection_handed_over_fairly(engine) -> None:
    assert isinstance(engine.pool, sqlite_pool.FairPool)
    assert engine.pool.size() == 1


async def test_fetching_in_parts_reads_the_rows_in_order(engine) -> None:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT n FROM t ORDER BY n"))
        assert result.fetchone() == (1,)
        assert result.fetchmany(5) == [(2,), (3,)]
        assert result.fetchall() == []


async def test_a_rollback_undoes_and_a_commit_keeps(engine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES (4)"))
        await conn.rollback()
        await conn.execute(text("INSERT INTO t VALUES (5)"))
        await conn.commit()
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
    assert kept == [1, 2, 3, 5]


async def test_many_rows_and_a_write_many(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(10, 510)])
    async with engine.connect() as conn:
        assert len((await conn.execute(text("SELECT n FROM t"))).all()) == 503


async def test_errors_come_back_as_sqlalchemy_errors(engine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM missing"))
        # The connection is still usable afterwards.
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 3


def one_connection(path: str, timeout: float = 30) -> AsyncEngine:
    return create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        poolclass=sqlite_pool.FairPool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=timeout,
    )


async def use(engine: AsyncEngine, name: str, order: list[str], hold: asyncio.Event | None = None):
    async with engine.connect() as conn:
        order.append(name)
        await conn.execute(text("SELECT 1"))
        if hold is not None:
            await hold.wait()


async def settle() -> None:
    """Long enough for the tasks started so far to reach the pool (no I/O involved)."""
    await asyncio.sleep(0.05)


async def test_waiting_requests_get_the_connection_in_arrival_order(tmp_path) -> None:
    engine = one_connection(str(tmp_path / "f.db"))
    order: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(use(engine, "holder", order, release))
    await settle()
    waiters = []
    for name in ("first", "second", "third"):
        waiters.append(asyncio.create_task(use(engine, name, order)))
        await settle()
    release.set()
    await asyncio.gather(holder, *waiters)
    # A newcomer after the release would have had to queue too.
    assert order == ["holder", "first", "second", "third"]
    await engine.dispose()


async def test_a_request_already_under_way_goes_first(tmp_path) -> None:
    engine = one_connection(str(tmp_path / "f.db"))
    order: list[str] = []
    release, go_on = asyncio.Event(), asyncio.Event()

    async def two_steps() -> None:  # like a request: look up the login, then the page
        await use(engine, "under way, step 1", order)
        await go_on.wait()
        await use(engine, "under way, step 2", order)

    request = asyncio.create_task(two_steps())
    await settle()
    holder = asyncio.create_task(use(engine, "holder", order, release))
    await settle()
    newcomer = asyncio.create_task(use(engine, "newcomer", order))
    await settle()
    go_on.set()
    await settle()
    release.set()
    await asyncio.gather(request, holder, newcomer)
    assert order == ["under way, step 1", "holder", "under way, step 2", "newcomer"]
    await engine.dispose()


async def test_a_wait_times_out_and_the_connection_is_not_lost(tmp_path) -> None:
    engine = one_connection(str(tmp_path / "f.db"), timeout=0.2)
    release = asyncio.Event()
    holder = asyncio.create_task(use(engine, "holder", [], release))
    await settle()
    with pytest.raises(PoolTimeout):
        await use(engine, "too late", [])
    release.set()
    await holder
    order: list[str] = []
    await use(engine, "next", order)  # the one connection is back in the pool
    assert order == ["next"]
    await engine.dispose()


async def test_a_request_cancelled_just_after_the_handover_passes_it_on() -> None:
    """A client that goes away while its request waits: hypercorn cancels the task,
    maybe after the connection was handed to it but before it ran."""
    queue = sqlite_pool._FairQueue(maxsize=1)
    gone = asyncio.create_task(greenlet_spawn(queue.get))
    await settle()
    queue.put_nowait("the connection")  # handed to `gone`, which has not run since
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert queue.get_nowait() == "the connection"


def test_what_sqlite_py_borrows_from_its_libraries_is_still_there() -> None:
    """`sqlite_pool.FairPool` reaches into SQLAlchemy's pool where it has no public hook: the
    queue class a QueuePool makes (`_queue_class`), the queue base class it must
    behave as (`QueueCommon`, `Empty`, `Full`), and `await_only`, which a sync pool
    method uses to wait. pyproject.toml pins SQLAlchemy below the next minor version;
    this fails, naming the file, when an upgrade moves any of it."""
    import inspect

    import sqlalchemy
    from sqlalchemy import util
    from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool
    from sqlalchemy.util import queue

    where = f"src/guestbook/sqlite_pool.py relies on SQLAlchemy {sqlalchemy.__version__}'s"
    assert hasattr(queue, "QueueCommon") and hasattr(queue, "Empty"), f"{where} util.queue"
    assert callable(getattr(util, "await_only", None)), f"{where} util.await_only"
    assert "_queue_class" in vars(AsyncAdaptedQueuePool), f"{where} pool _queue_class"
    source = inspect.getsource(QueuePool.__init__) + inspect.getsource(QueuePool._do_get)
    for use in ("self._queue_class(pool_size, use_lifo=use_lifo)", "self._pool.get("):
        assert use in source, f"{where} QueuePool: {use!r} is gone"
    missing = [
        name
        for name, member in vars(queue.QueueCommon).items()
        if callable(member)
        and not name.startswith("__")
        and name not in vars(sqlite_pool._FairQueue)
    ]
    assert not missing, f"{where} QueueCommon grew {missing}: _FairQueue must implement them"
    pool = sqlite_pool.FairPool(lambda: None, pool_size=1, max_overflow=0)
    uses = isinstance(pool._pool, sqlite_pool._FairQueue)
    assert uses, f"{where} pool no longer uses _queue_class"


async def test_a_connection_given_back_is_rolled_back_only_if_a_transaction_is_open(
    engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's reset rolls back what a returned connection left open (a write through
    the driver, outside SQLAlchemy's transactions), and skips the trip to aiosqlite's
    thread when nothing is open (the versions question reads through the driver)."""
    import aiosqlite

    rollbacks = []
    real_rollback = aiosqlite.Connection.rollback

    async def counted(self: aiosqlite.Connection) -> None:
        rollbacks.append(self.in_transaction)
        await real_rollback(self)

    monkeypatch.setattr(aiosqlite.Connection, "rollback", counted)
    async with engine.connect() as conn:
        assert await db.driver_row(conn, "SELECT count(*) FROM t") == (3,)
    assert rollbacks == []

    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute("INSERT INTO t VALUES (99)")
        assert driver.in_transaction
    assert rollbacks == [True]
    async with engine.connect() as conn:
        assert await db.driver_row(conn, "SELECT count(*) FROM t") == (3,)
        assert not (await conn.get_raw_connection()).driver_connection.in_transaction
