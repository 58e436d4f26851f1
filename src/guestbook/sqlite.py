"""aiosqlite with one trip to its thread per statement, not four.

aiosqlite runs each call on the connection's own thread and waits for the answer: a
queue, a thread wake-up, and the event loop's wake-up on the way back. Through
SQLAlchemy a statement makes four such trips (open a cursor, execute, fetch, close)
and every request one more to roll back, even one that only read; on the main page
the trips cost more than the query.

Here a statement makes one trip: execute and fetch together on the thread. Opening
and closing a cursor (no I/O), and a commit or rollback with no transaction open (a
read in the sqlite3 module's default mode opens none), run on the event loop at once.
That is safe because SQLAlchemy never runs two calls on one connection at the same
time, so the thread is idle whenever the loop touches the connection (and SQLite is
built serialized besides); for file databases SQLAlchemy already turns off the sqlite3
module's same-thread check, and aiosqlite itself reads `lastrowid` and `description`
from the loop's thread the same way.

The pool that lends the one connection per process hands it over fairly (`FairPool`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import Empty, Full, QueueCommon


class Cursor(aiosqlite.Cursor):
    """Executes and fetches in one trip; the fetch calls then read the buffer."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._rows: deque[Any] = deque()

    def _execute_and_fetch(self, sql: str, parameters: Iterable[Any]) -> list[Any]:
        # On the connection's thread.
        self._cursor.execute(sql, parameters)
        return self._cursor.fetchall() if self._cursor.description else []

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        self._rows = deque(await self._execute(self._execute_and_fetch, sql, parameters or ()))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        self._rows.clear()
        await self._execute(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(size or self._cursor.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        self._cursor.close()


class Connection(aiosqlite.Connection):
    @contextmanager
    async def cursor(self) -> Cursor:
        return Cursor(self, self._conn.cursor())

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def connector(filename: str) -> Callable[[], Awaitable[Connection]]:
    """For `create_async_engine(..., async_creator=connector(filename))`."""

    async def connect() -> Connection:
        connection = Connection(
            lambda: sqlite3.connect(filename, check_same_thread=False), iter_chunk_size=64
        )
        # As SQLAlchemy does: never keep the interpreter alive (before aiosqlite 0.22 the
        # connection was the thread itself).
        getattr(connection, "_thread", connection).daemon = True
        return await connection

    return connect


class _FairQueue(QueueCommon[Any]):
    """The pool's queue of idle connections, and of the requests waiting for one.

    SQLAlchemy's queue lets whoever asks next take a returned connection, so a request
    that just arrived goes ahead of those already waiting, and they queue again at the
    back: with one connection and a few dozen requests, some waited over a second.
    Here a returned connection is handed straight to a waiting request: first to one
    that already had a connection earlier in its task (work under way finishes
    first), else to the one waiting longest.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: deque[Any] = deque()
        self._under_way: deque[asyncio.Future[Any]] = deque()
        self._arrived: deque[asyncio.Future[Any]] = deque()
        self._under_way_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put_nowait(self, item: Any) -> None:
        for waiters in (self._under_way, self._arrived):
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_result(item)
                    return
        if self.full():
            raise Full()
        self._idle.append(item)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool never returns more connections than it made

    def get_nowait(self) -> Any:
        if not self._idle:
            raise Empty()
        return self._idle.pop() if self.use_lifo else self._idle.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        task = asyncio.current_task()  # a request's task
        under_way = task in self._under_way_tasks
        if task is not None:
            self._under_way_tasks.add(task)
        if self._idle or not block:  # idle connections mean nobody is waiting
            return self.get_nowait()
        waiter = asyncio.get_running_loop().create_future()
        (self._under_way if under_way else self._arrived).append(waiter)
        try:
            return await_only(self._wait(waiter, seconds=timeout))
        except TimeoutError as err:
            raise Empty() from err

    async def _wait(self, waiter: asyncio.Future[Any], seconds: float | None) -> Any:
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return waiter.result()  # handed over just as the time ran out
            raise
        except BaseException:
            # Cancelled (the client went away) just after a connection was handed
            # over: pass it on, or the pool would have lost it for good.
            if waiter.done() and not waiter.cancelled():
                self.put_nowait(waiter.result())
            raise


class FairPool(AsyncAdaptedQueuePool):
    _queue_class = _FairQueue
