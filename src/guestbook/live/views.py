"""`/live`: the WebSocket that tells open pages about new, edited and deleted messages.

Push-only: each event is JSON with `type` (created, edited, deleted; reload when the
page must fetch its list again; ping, a heartbeat), `seq` to resume from, and the
message `id`. A frame holds one event, or a list of those that waited together. It
carries no message and nothing about the viewer: the page fetches a message's HTML
over HTTP with its own cookies (`messages.fragment`), so what a member sees (their
Edit and Delete) is decided per request, and a login that ends stops showing it at
once, on open sockets too. The socket needs no database connection
except for a short read when it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

from quart import Blueprint, g, websocket
from werkzeug.exceptions import BadRequest, Forbidden, ServiceUnavailable

from guestbook import config
from guestbook.lib.numbers import whole_number
from guestbook.live import fanout
from guestbook.live.subscriber import MAX_FRAME_BYTES, STALLED, TOO_BIG, TRY_AGAIN, Subscriber

bp = Blueprint("live", __name__)
BIGINT_MAX = 2**63 - 1  # live_events.seq


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}"


def _check_origin() -> None:
    """Cross-site WebSocket hijacking: a browser sends the login cookie with any
    site's handshake, so only our own pages may open the socket. Origin is set by the
    browser and cannot be forged by a page. A missing Origin (not a browser) is refused
    in production."""
    settings = config.current()
    origin = websocket.headers.get("Origin")
    if origin is None:
        if settings.is_production:
            raise Forbidden("Live updates are for this site's pages.")
        return
    scheme = "https" if websocket.scheme == "wss" else "http"
    allowed = {
        f"{scheme}://{websocket.host}".lower(),
        _origin(settings.base_url),
        *(_origin(extra) for extra in settings.live.origins.split(",") if extra.strip()),
    }
    if _origin(origin) not in allowed:
        raise Forbidden("Live updates are for this site's pages.")


def _after() -> int | None:
    text = websocket.args.get("after")
    if text is None or text == "":
        return None
    after = whole_number(text, BIGINT_MAX)
    if after is None:
        raise BadRequest("after= takes an event number.")
    return after


async def _refuse_large_frames(subscriber: Subscriber) -> None:
    """Nothing is read from clients, but a frame over 4 KiB closes the socket (1009).
    (hypercorn.toml caps frames too, before they are buffered.)"""
    while True:
        data = await websocket.receive()
        size = len(data.encode()) if isinstance(data, str) else len(data)
        if size > MAX_FRAME_BYTES:
            subscriber.close(TOO_BIG)
            return


@bp.websocket("/live")
async def live() -> None:
    _check_origin()
    after = _after()
    hub = fanout.hub()
    if hub is None:
        raise ServiceUnavailable()
    subscriber = hub.admit(websocket.remote_addr or "")
    try:
        await websocket.accept()
        reader = asyncio.ensure_future(_refuse_large_frames(subscriber))
        try:
            await _serve(hub, subscriber, after)
        finally:
            reader.cancel()
    finally:
        hub.leave(subscriber)


async def _serve(hub: fanout.Hub, subscriber: Subscriber, after: int | None) -> None:
    try:
        await hub.catch_up(subscriber, after)
    except Exception as exc:  # the database is away: the client retries later
        fanout.log.warning("live: cannot resume a socket: %s", exc)
        subscriber.close(TRY_AGAIN)
    subscriber.task = task = asyncio.current_task()
    try:
        while (text := await subscriber.next_frame()) is not None:
            # A client that stops reading blocks this send once the kernel's buffers
            # are full; after a heartbeat's time the hub stalls it (cancels it).
            subscriber.sending_since = time.monotonic()
            await websocket.send(text)
            subscriber.sending_since = 0.0
    except asyncio.CancelledError as cancel:
        if cancel.args != (STALLED,) or task is None or task.uncancel():
            raise  # (also) the server's cancel: the client is gone or the server stops
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(config.current().live.heartbeat_seconds):
            await websocket.close(subscriber.close_code or TRY_AGAIN)


@bp.app_template_global()
def live_after() -> int | None:
    """The event number a page's socket resumes from: the newest in the database when
    the page asked which versions its reads are kept under (`cache.versions` asks it
    in the same statement, so the page shows every event up to it); for a page that
    did not ask, the newest this worker had read before the page began."""
    found = g.get("versions")
    return found[2] if found is not None and len(found) > 2 else g.get("live_seq")


async def remember_seq() -> None:
    """Before a page reads its list: the newest event this worker has read, so the
    page's script resumes from there (an event read later is then not missed; one
    the page already shows may come again, which the script takes in its stride)."""
    hub, here = fanout.hub(), g._get_current_object()  # the object, not its proxy (web.pipeline)
    here.live_seq = hub.seq if hub is not None else None
    here.live_heartbeat = config.current().live.heartbeat_seconds
