"""Bounded caches: the most recently used entries, and those kept under a version."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class LRU(OrderedDict):
    """The `capacity` most recently used entries."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def get_recent(self, key: Hashable) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Hashable, value: object) -> None:
        self[key] = value
        if len(self) > self.capacity:
            self.popitem(last=False)


class VersionedLRU(LRU):
    """Entries keyed by `(version, ...)`, all of one version: the one last named. A
    higher one drops what was kept, which no request asks for again (a busy site
    writes every second: kept, the dead copies would fill the cache's capacity in
    minutes). A lower one means the numbers started again (a row made anew, a
    backup restored), so the same number may now stand for other data: dropped too."""

    highest = -1

    def at(self, version: int) -> None:
        if version != self.highest:
            self.clear()
        self.highest = version
