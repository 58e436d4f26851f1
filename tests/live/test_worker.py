"""What `guestbook.live.worker` relies on in hypercorn: when one of these fails after
an upgrade of hypercorn, `live.worker` (the worker that closes live sockets first on a
graceful shutdown) must be brought up to date before the pin is raised."""

from __future__ import annotations

import inspect

import hypercorn.asyncio.run as workers
import hypercorn.run
from hypercorn.utils import check_multiprocess_shutdown_event, load_application

from guestbook.live import worker

WHERE = "hypercorn changed under guestbook.live.worker:"


def test_hypercorn_looks_its_asyncio_workers_up_when_it_runs() -> None:
    """`use_our_worker` swaps module attributes; that only works while `run` imports
    them by name at call time, from `hypercorn.asyncio.run`."""
    source = inspect.getsource(hypercorn.run.run)
    for name in ("asyncio_worker", "uvloop_worker"):
        assert f"from .asyncio.run import {name}" in source, f"{WHERE} run() finds {name} otherwise"


def test_the_worker_takes_the_arguments_hypercorn_passes() -> None:
    ours = inspect.signature(worker.worker).parameters
    for name in ("asyncio_worker", "uvloop_worker"):
        theirs = inspect.signature(getattr(workers, name)).parameters
        assert list(theirs) == list(ours), f"{WHERE} {name} takes {list(theirs)}"


def test_worker_serve_takes_a_shutdown_trigger_and_sockets() -> None:
    parameters = inspect.signature(workers.worker_serve).parameters
    assert {"shutdown_trigger", "sockets"} <= set(parameters), f"{WHERE} worker_serve"
    assert list(inspect.signature(load_application).parameters)[:2] == [
        "path",
        "wsgi_max_body_size",
    ], f"{WHERE} load_application"
    assert list(inspect.signature(check_multiprocess_shutdown_event).parameters) == [
        "shutdown_event",
        "sleep",
    ], f"{WHERE} check_multiprocess_shutdown_event"


def test_use_our_worker_takes_the_place_of_both_asyncio_workers(monkeypatch) -> None:
    monkeypatch.setattr(workers, "asyncio_worker", workers.asyncio_worker)
    monkeypatch.setattr(workers, "uvloop_worker", workers.uvloop_worker)
    worker.use_our_worker()
    assert workers.asyncio_worker is worker.worker
    assert workers.uvloop_worker is worker.worker


def test_the_websocket_buffer_and_handler_it_replaces_are_still_there() -> None:
    """`BoundedBuffer` subclasses hypercorn's buffer and `_handle_events` wraps its
    handler: both looked up by name at run time, where `WSStream` makes its buffer."""
    from hypercorn.protocol import ws_stream

    buffer = ws_stream.WebsocketBuffer(10)
    assert {"extend", "clear", "to_message"} <= set(dir(buffer)), f"{WHERE} WebsocketBuffer"
    assert (buffer.length, buffer.max_length) == (0, 10), f"{WHERE} WebsocketBuffer"
    assert hasattr(ws_stream, "FrameTooLargeError"), f"{WHERE} FrameTooLargeError"
    source = inspect.getsource(ws_stream.WSStream)
    assert "WebsocketBuffer(config.websocket_max_message_size)" in source, f"{WHERE} WSStream"
    assert "async def _handle_events(self)" in source, f"{WHERE} WSStream._handle_events"
    assert "self.buffer.extend(event)" in source, f"{WHERE} WSStream._handle_events"


def test_the_handshake_it_replaces_reads_the_offer_into_extensions() -> None:
    """`UncompressedHandshake` empties `extensions`, which hypercorn's `Handshake`
    fills from the request and `accept` answers; `WSStream` makes it by name."""
    from hypercorn.protocol import ws_stream

    offer = [(b"sec-websocket-extensions", b"permessage-deflate")]
    assert ws_stream.Handshake(offer, "1.1").extensions == ["permessage-deflate"], WHERE
    assert worker.UncompressedHandshake(offer, "1.1").extensions is None
    assert "if self.extensions is not None" in inspect.getsource(ws_stream.Handshake.accept), (
        f"{WHERE} Handshake.accept"
    )
    assert "Handshake(event.headers, event.http_version)" in inspect.getsource(
        ws_stream.WSStream
    ), f"{WHERE} WSStream"
