"""The garbage collector, kept out of requests' way while a worker serves."""

import gc
from pathlib import Path

import pytest

from guestbook.lib import memory
from support import serving


async def test_a_serving_app_keeps_its_startup_objects_out_of_full_collections(
    settings_overrides,
) -> None:
    # What lives as long as the process is frozen while it serves, so a full
    # collection, which stalls every request in flight, scans only what requests made.
    assert gc.get_freeze_count() == 0
    async with serving(settings_overrides):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


async def test_a_serving_app_gives_back_what_its_startup_freed(
    settings_overrides, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "give_back", lambda: calls.append(gc.get_freeze_count()))
    async with serving(settings_overrides):
        # Once, after the startup's objects were frozen: nothing the startup made is
        # left to free.
        assert len(calls) == 1 and calls[0] > 10_000


def rss_kb() -> int:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])


def test_freed_heap_pages_go_back_to_the_system() -> None:
    # 80 MB in blocks over 512 bytes (glibc's malloc, not Python's arenas), every tenth
    # kept: the rest are holes glibc keeps for later, counted in RSS until given back.
    blocks = [bytes(4000) for _ in range(20_000)]
    kept = blocks[::10]
    del blocks
    before = rss_kb()
    assert memory.give_back() is True  # glibc, as on every machine this runs on
    assert before - rss_kb() > 30_000
    assert len(kept) == 2_000
