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
time, SQLite is built serialized (thread-safe), and for file databases SQLAlchemy
already turns off the sqlite3 module's same-thread check; aiosqlite itself reads
`lastrowid` and `description` from the loop's thread the same way.

The pool that lends the one connection per process is fair: it goes to the request
that has waited longest (`FairPool`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


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


class _FairQueue(AsyncAdaptedQueue):
    """SQLAlchemy's queue hands a returned connection to whoever asks next, so a
    request that just arrived takes it ahead of those already waiting, and they queue
    again at the back: with one connection and a few dozen requests, some waited over
    a second. Here nobody takes a connection while others wait for one."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiting = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not self._waiting:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        if not block:
            raise Empty()
        self._waiting += 1
        try:
            return await_only(self._wait(seconds=timeout))
        except TimeoutError as err:
            raise Empty() from err
        finally:
            self._waiting -= 1

    async def _wait(self, seconds: float | None) -> Any:
        async with asyncio.timeout(seconds):  # asyncio.Queue serves its waiters in order
            return await self._queue.get()


class FairPool(AsyncAdaptedQueuePool):
    _queue_class = _FairQueue
