"""hypercorn's worker, with one addition: the app hears of a graceful shutdown first.

On SIGTERM hypercorn stops accepting and waits up to `graceful_timeout` for open
connections before it runs the app's shutdown, so an open WebSocket would only be cut
off at the end. Here the shutdown trigger first closes every `/live` socket with 1001
("going away"); the pages reconnect to another instance at once.

hypercorn has no public hook for this. `worker_serve` and the `utils` used here are
public names; the one private seam is `use_our_worker`'s swap of the worker functions
`hypercorn.run.run` looks up by name, which is why hypercorn is pinned below 0.19 and
`tests/live/test_worker.py` fails, naming this module, if that lookup changes.
"""

from __future__ import annotations

import asyncio
import signal
from functools import partial
from multiprocessing.synchronize import Event as ProcessEvent

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import check_multiprocess_shutdown_event, load_application

from guestbook.live import fanout
from guestbook.live.subscriber import GOING_AWAY


async def _signalled() -> None:
    """Without a parent process (workers = 0), the worker hears the signals itself."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for name in ("SIGINT", "SIGTERM"):
        loop.add_signal_handler(getattr(signal, name), stop.set)
    await stop.wait()


async def _shutdown_trigger(shutdown_event: ProcessEvent | None) -> None:
    if shutdown_event is None:
        await _signalled()
    else:
        await check_multiprocess_shutdown_event(shutdown_event, asyncio.sleep)
    fanout.close_all_sockets(GOING_AWAY)


def worker(
    config: Config, sockets: Sockets | None = None, shutdown_event: ProcessEvent | None = None
) -> None:
    """hypercorn's `asyncio_worker` / `uvloop_worker`, with our shutdown trigger."""
    app = load_application(config.application_path, config.wsgi_max_body_size)
    loop_factory = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    trigger = partial(_shutdown_trigger, shutdown_event)
    with asyncio.Runner(debug=config.debug, loop_factory=loop_factory) as runner:
        runner.run(worker_serve(app, config, sockets=sockets, shutdown_trigger=trigger))


def use_our_worker() -> None:
    """hypercorn's `run` looks its worker function up by class name when it starts;
    ours takes the place of both asyncio classes (`guestbook serve` only)."""
    import hypercorn.asyncio.run as workers

    workers.asyncio_worker = workers.uvloop_worker = worker
