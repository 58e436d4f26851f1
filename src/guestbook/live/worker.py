"""hypercorn's worker, changed three ways. First, the app hears of a graceful shutdown first.

On SIGTERM hypercorn stops accepting and waits up to `graceful_timeout` for open
connections before it runs the app's shutdown, so an open WebSocket would only be cut
off at the end. Here the shutdown trigger first closes every `/live` socket with 1001
("going away"); the pages reconnect to another instance at once.

It also bounds what one socket can make the worker hold. hypercorn writes a client's
message into its buffer before it checks the size, and keeps the buffer and the
connection after it sends the 1009 close: one socket streaming a frame declared as
1 GiB grew a worker without bound. `BoundedBuffer` checks before it writes, drops the
message, and the connection is closed at the cap.

Nor does it compress: hypercorn accepts the permessage-deflate every browser offers,
and each socket that takes it keeps zlib state of its own, for frames of a few hundred
bytes of JSON that deflate barely shrinks. `UncompressedHandshake` leaves the offer
unanswered (RFC 6455 lets a server decline any extension): 500 sockets that had each
received 20 frames held 42 KiB apiece without it, 135 KiB with it.

hypercorn has no public hook for any of these. `worker_serve` and the `utils` used
here are public names; the private seams are `use_our_worker`'s swap of the worker
functions `hypercorn.run.run` looks up by name, and of `ws_stream`'s buffer class,
event handler and handshake class. That is why hypercorn is pinned below 0.19, and
`tests/live/test_worker.py` fails, naming this module, if any of them changes.
"""

from __future__ import annotations

import asyncio
import signal
from functools import partial
from multiprocessing.synchronize import Event as ProcessEvent

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.protocol import ws_stream
from hypercorn.protocol.events import StreamClosed
from hypercorn.utils import check_multiprocess_shutdown_event, load_application

from guestbook.live import fanout
from guestbook.live.subscriber import GOING_AWAY
from guestbook.metrics import exporter


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
    """hypercorn's `asyncio_worker` / `uvloop_worker`, with our shutdown trigger,
    bounded WebSocket buffers and uncompressed sockets. It runs in the worker's own
    process (spawned, so it inherits none of the parent's patches)."""
    bound_websocket_buffers()
    ws_stream.Handshake = UncompressedHandshake  # type: ignore[misc]
    app = load_application(config.application_path, config.wsgi_max_body_size)
    loop_factory = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    trigger = partial(_shutdown_trigger, shutdown_event)
    try:
        with asyncio.Runner(debug=config.debug, loop_factory=loop_factory) as runner:
            runner.run(worker_serve(app, config, sockets=sockets, shutdown_trigger=trigger))
    finally:
        exporter.worker_ended()  # its open sockets and connections no longer count


class BoundedBuffer(ws_stream.WebsocketBuffer):
    """hypercorn's buffer of a client's message, checked before it grows: past
    `websocket_max_message_size` the message is dropped whole and `overflowed` set."""

    overflowed = False

    def extend(self, event: ws_stream.Message) -> None:
        if self.length + len(event.data) > self.max_length:
            self.clear()
            self.overflowed = True
            raise ws_stream.FrameTooLargeError()
        super().extend(event)


_hypercorns_handle_events = ws_stream.WSStream._handle_events


async def _handle_events(self: ws_stream.WSStream) -> None:
    """hypercorn's handling, then, once a message overflowed (hypercorn has sent the
    1009 close), the connection closed: nothing more is read from that client."""
    await _hypercorns_handle_events(self)
    if isinstance(self.buffer, BoundedBuffer) and self.buffer.overflowed and not self.closed:
        await self.send(StreamClosed(stream_id=self.stream_id))


def bound_websocket_buffers() -> None:
    """Every socket's buffer a `BoundedBuffer`, and its connection closed when one
    overflows."""
    ws_stream.WebsocketBuffer = BoundedBuffer  # type: ignore[misc]
    ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]


class UncompressedHandshake(ws_stream.Handshake):
    """hypercorn's handshake, with the client's extension offers left unanswered, so
    no socket compresses (see the module's docstring)."""

    def __init__(self, headers: list[tuple[bytes, bytes]], http_version: str) -> None:
        super().__init__(headers, http_version)
        self.extensions = None


def use_our_worker() -> None:
    """hypercorn's `run` looks its worker function up by class name when it starts;
    ours takes the place of both asyncio classes (`guestbook serve` only). Without
    worker processes (`--workers 0`) hypercorn runs it in this process."""
    import hypercorn.asyncio.run as workers

    workers.asyncio_worker = workers.uvloop_worker = worker
