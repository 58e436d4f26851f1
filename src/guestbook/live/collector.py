"""The collector's thresholds while many live sockets are open.

Thousands of open sockets are millions of objects that live for hours. With CPython's
default thresholds a broadcast's objects in flight (a handle, a coroutine, a task step
per socket) are promoted to the oldest generation, and every few broadcasts a full
collection scans everything while the worker answers nothing. A young generation of
100,000 objects lets a broadcast's objects die young. With few sockets it only lets
requests' cyclic garbage pile up, so it is set from `MANY_SOCKETS` open sockets until
fewer than half as many are left (the figures: bench/RESULTS.md, the live scenario, and
"Frames together" for 500 sockets under the mixed load).
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (100_000, 50, 10)
MANY_SOCKETS = 200


def tune(sockets: int, defaults: tuple[int, int, int]) -> None:
    """Set the thresholds for a worker with `sockets` open: GC_THRESHOLDS from
    MANY_SOCKETS on, its own `defaults` below half as many, as they were in between."""
    if sockets >= MANY_SOCKETS:
        wanted = GC_THRESHOLDS
    elif sockets < MANY_SOCKETS // 2:
        wanted = defaults
    else:
        return
    if gc.get_threshold() != wanted:
        gc.set_threshold(*wanted)
