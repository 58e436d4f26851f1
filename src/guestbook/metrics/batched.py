"""Figures a request records, gathered in the worker's memory and written once a second.

In multiprocess mode each increment is a write to a memory-mapped file under a lock,
and a histogram's observation two: on a page kept whole they cost about 6% of the
request (`python -m bench.instructions /`). Gathered here, a request costs a few
additions in a dictionary; `flush` (a task of the worker's, `flushing`) writes each
figure's total once a second and when the worker stops, so a scrape is at most a
second behind.

`BatchedHistogram.flush` writes a histogram child's buckets and sum directly: its
`_upper_bounds`, `_buckets` and `_sum`, which prometheus-client has no public way to
add many observations at once to. pyproject.toml keeps prometheus-client below its
next minor version, and `tests/metrics/test_batched.py` fails, naming this module, if
those names move or a flushed histogram differs from one observed value by value.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import AsyncIterator
from typing import Any

FLUSH_SECONDS = 1.0
_pending: set[BatchedHistogram | BatchedCounter] = set()


class BatchedHistogram:
    """`observe` of a labelled histogram (`Histogram.labels(...)`), written by `flush`."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds = list(child._upper_bounds)  # ends with +Inf: every value has a bucket
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.total += value
        _pending.add(self)

    def flush(self) -> None:
        for index, count in enumerate(self.counts):
            if count:
                self.child._buckets[index].inc(count)
                self.counts[index] = 0
        self.child._sum.inc(self.total)
        self.total = 0.0


class BatchedCounter:
    """`inc` of a (labelled) counter, written by `flush`."""

    def __init__(self, child: Any) -> None:
        self.child = child
        self.count = 0

    def inc(self) -> None:
        self.count += 1
        _pending.add(self)

    def flush(self) -> None:
        self.child.inc(self.count)
        self.count = 0


def flush() -> None:
    """Write every gathered figure."""
    while _pending:
        _pending.pop().flush()


async def flushing() -> AsyncIterator[None]:
    """While the app serves (`create_app`'s `while_serving`): a flush every second, and
    a last one as it stops."""

    async def every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            flush()

    task = asyncio.create_task(every_second())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        flush()
