"""Quart, with what it works out on every request done once, and a request's tasks
cut from three to one.

On every request Quart asks whether each function it is about to await is a coroutine
function (`ensure_async`: seven times for a member's kept page, the hooks, the view and
the session's save), and works out the request's blueprints at least three times
(before, after, teardown) through three properties. Neither answer changes while the
app serves: remembered, a member's kept page takes 4.6% fewer instructions
(bench/RESULTS.md, "Quart's per-request answers remembered").

Quart also starts two tasks per request, one that reads the body and one that handles
the request, waits for whichever ends first and cancels the other; and on Python 3.11
`asyncio.wait_for` starts a third to send the response. `HTTPConnection` handles the
request in the server's own task, reads the body in the one task it starts, and sends
under `asyncio.timeout`: the same behaviour, with 7.7% fewer of the app's own
instructions for a member's kept page, 2.3% fewer through hypercorn (bench/RESULTS.md,
"One task per request"). Everything else is Quart's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import quart
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable
from quart.app import iscoroutinefunction as _asks  # the check Quart makes, as it makes it
from quart.asgi import ASGIHTTPConnection
from quart.asgi import _handle_exception as _error_response  # Quart's own, as it uses it

# Bounded: a new closure per request (`after_this_request`) is kept only until 256
# others push it out.
_is_coroutine_function = functools.lru_cache(maxsize=256)(_asks)


@functools.cache  # one entry per endpoint, and the URL map has a fixed number of those
def _blueprints_of(endpoint: str) -> list[str]:
    """The blueprint of "a.b.view" and its parents, innermost first: ["a.b", "a"]."""
    parents = endpoint.split(".")[:-1]
    return [".".join(parents[:depth]) for depth in range(len(parents), 0, -1)]


class Request(quart.Request):
    @property
    def blueprints(self) -> list[str]:
        """As Quart's, from the matched rule's endpoint in one step."""
        rule = self.url_rule
        return [] if rule is None else _blueprints_of(rule.endpoint)


# The cancel message that tells the client's leaving from any other cancel.
_CLIENT_LEFT = "the client left before its answer"


class HTTPConnection(ASGIHTTPConnection):
    """Quart's, in one task instead of three (the module's docstring)."""

    async def __call__(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        request = self._create_request_from_scope(send)
        handler = asyncio.current_task()
        reader = asyncio.ensure_future(self.handle_messages(request, receive))
        handling = True

        def stop_handling(_reader: asyncio.Future) -> None:
            # The reader ended first (the client left): the request is cancelled, as
            # Quart cancels its handler's task.
            if handling and handler is not None:
                handler.cancel(_CLIENT_LEFT)

        reader.add_done_callback(stop_handling)
        try:
            await self.handle_request(request, send)
        except asyncio.CancelledError as cancel:
            if cancel.args != (_CLIENT_LEFT,) or handler is None or handler.uncancel():
                raise  # (also) a cancel of the server's: it stops this request
        finally:
            handling = False
            reader.cancel()
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()  # as Quart raises its reader's error

    async def handle_request(self, request: quart.Request, send: ASGISendCallable) -> None:
        """As Quart's, with the response sent under `asyncio.timeout` in this task,
        where `asyncio.wait_for` (Python 3.11) sends it in a task of its own."""
        try:
            response = await self.app.handle_request(request)
        except Exception as error:  # as Quart: every error becomes a page
            response = await _error_response(self.app, error)
        timeout = getattr(response, "timeout", Ellipsis)
        if timeout is Ellipsis:
            timeout = self.app.config["RESPONSE_TIMEOUT"]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._send_response(send, response)


class App(quart.Quart):
    request_class = Request
    asgi_http_class = HTTPConnection

    def ensure_async(self, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """As Quart's: `func` if it is a coroutine function, else run in a thread."""
        try:
            is_async = _is_coroutine_function(func)
        except TypeError:  # an unhashable callable: asked every time, as Quart does
            is_async = _asks(func)
        return func if is_async else self.sync_to_async(func)
