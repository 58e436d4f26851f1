"""The pools' figures (`metrics`): the checkouts that had to wait for a connection (or
open one), with how long they waited, and the connections in use, read once a second.
A pool that waits is the first sign of a database, or a pool size, that no longer
keeps up. A checkout that found an idle connection records nothing: a kept page asks
the pool once, and each figure written costs a few microseconds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from guestbook.metrics import DB_IN_USE, DB_WAITS, WAIT_FROM_SECONDS

SAMPLE_SECONDS = 1.0


class Metered:
    """A pool whose checkouts are timed (mixed in before SQLAlchemy's pool class).
    `Pool.connect` is where `Engine.connect` takes a connection, waits included."""

    waits = DB_WAITS.labels("main")

    def connect(self) -> Any:
        started = time.perf_counter()
        try:
            return super().connect()  # type: ignore[misc]
        finally:
            waited = time.perf_counter() - started
            if waited >= WAIT_FROM_SECONDS:
                self.waits.observe(waited)


class MeteredQueuePool(Metered, AsyncAdaptedQueuePool):
    """PostgreSQL's pool (asyncpg's default class), timed."""


@contextlib.asynccontextmanager
async def sampling(pools: dict[str, AsyncEngine]) -> AsyncIterator[None]:
    """While serving: each pool's connections in use, read once a second (a task of
    its own, so no checkout pays for it)."""
    for name, engine in pools.items():
        if isinstance(engine.sync_engine.pool, Metered):
            engine.sync_engine.pool.waits = DB_WAITS.labels(name)

    async def sample() -> None:
        while True:
            for name, engine in pools.items():
                pool = engine.sync_engine.pool
                if isinstance(pool, QueuePool):
                    DB_IN_USE.labels(name).set(pool.checkedout())
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
