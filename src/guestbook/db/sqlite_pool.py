"""SQLite's one connection per process, handed over fairly (`FairPool`).

SQLAlchemy has no public hook for a pool's queue: `FairPool` sets QueuePool's
`_queue_class` and its queue implements `QueueCommon`, waiting with `await_only` as
SQLAlchemy's own asyncio queue does. pyproject.toml pins SQLAlchemy below its next
minor version, and `tests/db/test_sqlite.py` fails, naming this file, when any of that
moves. (The connection itself is aiosqlite's, through SQLAlchemy's own dialect: the
one-trip cursor and loop-side commits that once lived here bought under 5% in
`python -m bench.sqlite_parts` once pages were cached whole, and were dropped.)
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import Empty, Full, QueueCommon

from guestbook.db.metered import Metered


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


class FairPool(Metered, AsyncAdaptedQueuePool):
    _queue_class = _FairQueue
