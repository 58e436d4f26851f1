"""The garbage collector, kept out of requests' way while a worker serves."""

import gc

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
