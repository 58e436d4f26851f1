"""One database question shared by the requests that ask it at the same time.

Every list page first asks "which content version?" (`cache.versions.content_version`).
Under load dozens of requests ask at once, and each trip to the database (a hop to
aiosqlite's thread and back, or a PostgreSQL round trip) costs more than the answer.
So requests that arrive while the question is out wait for the next one, which is
sent after they arrived and answers them all: no request gets an answer older than
itself, and a crowd costs one trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def shared_future() -> asyncio.Future:
    """A future that requests await: its error reaches whoever still waits, and
    asyncio does not also log it as never retrieved (nobody may wait any more)."""
    future = asyncio.get_running_loop().create_future()
    future.add_done_callback(_retrieve)
    return future


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class SharedQuestion(Generic[T]):
    def __init__(self, ask: Callable[[], Awaitable[T]]) -> None:
        self._ask = ask
        self._next: asyncio.Future[T] | None = None  # the answer the newest askers await
        self._task: asyncio.Task[None] | None = None

    async def answer(self) -> T:
        if self._next is None:
            self._next = shared_future()
        waiter = self._next
        if self._task is None:
            self._task = asyncio.create_task(self._asking())
        # Shielded: one asker cancelled (its client went away) must not cancel the
        # answer the others await.
        return await asyncio.shield(waiter)

    async def _asking(self) -> None:
        """Ask once for everyone waiting, then again while newcomers wait."""
        try:
            while self._next is not None:
                waiter, self._next = self._next, None
                try:
                    waiter.set_result(await self._ask())
                except Exception as err:  # each asker gets it, as if it had asked alone
                    waiter.set_exception(err)
                except BaseException:
                    waiter.cancel()
                    raise
        finally:
            self._task = None
            if self._next is not None:  # stopped (cancelled) with askers left waiting
                self._next.cancel()
                self._next = None
