"""hypercorn's worker, with one addition: the app hears of a graceful shutdown first.

On SIGTERM hypercorn stops accepting and waits up to `graceful_timeout` for open
connections before it runs the app's shutdown, so an open WebSocket would only be cut
off at the end. Here the shutdown trigger first closes every `/live` socket with 1001
("going away"); the pages reconnect to another instance at once.
"""

from __future__ import annotations

import asyncio
import signal
from functools import partial
from multiprocessing.synchronize import Event as ProcessEvent

from hypercorn.asyncio.run import _run, worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import check_multiprocess_shutdown_event, load_application


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
    from . import asgi, fanout

    hub = fanout.hub(asgi.app)
    if hub is not None:
        hub.close_all(fanout.GOING_AWAY)


def worker(
    config: Config, sockets: Sockets | None = None, shutdown_event: ProcessEvent | None = None
) -> None:
    """hypercorn's `asyncio_worker` / `uvloop_worker`, with our shutdown trigger."""
    app = load_application(config.application_path, config.wsgi_max_body_size)
    loop_factory = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    _run(
        partial(worker_serve, app, config, sockets=sockets),
        debug=config.debug,
        shutdown_trigger=partial(_shutdown_trigger, shutdown_event),
        loop_factory=loop_factory,
    )


def use_our_worker() -> None:
    """hypercorn's `run` looks its worker function up by class name when it starts;
    ours takes the place of both asyncio classes (`guestbook serve` only)."""
    import hypercorn.asyncio.run as workers

    workers.asyncio_worker = workers.uvloop_worker = worker
