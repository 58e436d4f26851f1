"""Memory a worker has freed, handed back to the operating system.

glibc's allocator keeps what Python frees in its heap, for the next allocation, and a
worker's RSS counts it. When a worker has started, what its imports and its startup
freed is such memory; `malloc_trim(0)` returns every whole free page of the heap.
Under `python -OO` (as deployed) a started worker gives back some 5 MB this way, and
its peak under load is 2 MB lower (bench/RESULTS.md).
"""

from __future__ import annotations

import ctypes


def give_back() -> bool:
    """True if glibc returned memory to the system; False if it had none to return,
    or the C library has no `malloc_trim` (musl, macOS)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    return trim is not None and bool(trim(0))
