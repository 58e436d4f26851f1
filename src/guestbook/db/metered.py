"""The pools' figures (`metrics`): connections checked out, and the time a checkout
took, waiting for a connection or opening one. A pool that waits is the first sign
of a database, or a pool size, that no longer keeps up."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from guestbook.metrics import DB_ACQUIRE, DB_IN_USE


class Metered:
    """A pool whose every checkout is timed (mixed in before SQLAlchemy's pool class).
    `Pool.connect` is where `Engine.connect` takes a connection, waits included."""

    acquire_seconds = DB_ACQUIRE.labels("main")

    def connect(self) -> Any:
        started = time.perf_counter()
        try:
            return super().connect()  # type: ignore[misc]
        finally:
            self.acquire_seconds.observe(time.perf_counter() - started)


class MeteredQueuePool(Metered, AsyncAdaptedQueuePool):
    """PostgreSQL's pool (asyncpg's default class), timed."""


def meter(engine: AsyncEngine, pool_name: str) -> None:
    """Count `engine`'s connections in use under `pool_name` (`main`, `control`)."""
    pool = engine.sync_engine.pool
    in_use = DB_IN_USE.labels(pool_name)
    if isinstance(pool, Metered):
        pool.acquire_seconds = DB_ACQUIRE.labels(pool_name)
    event.listen(pool, "checkout", lambda *_: in_use.inc())
    event.listen(pool, "checkin", lambda *_: in_use.dec())
