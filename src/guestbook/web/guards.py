"""What a request must be before the app works on it: addressed to one of our host
names, with a head of bounded size, and its whole body received in bounded time.

These run first, before any step that can touch the database (the login cookie's
lookup, a view): a client that trickles its body in then holds nothing but its own
socket, never the connection other requests need (SQLite has one per process).
Each is a plain async function; `web.pipeline` runs them in order.
"""

from __future__ import annotations

from quart import has_websocket_context, request, websocket
from werkzeug.exceptions import BadRequest, RequestHeaderFieldsTooLarge
from werkzeug.sansio.utils import host_is_trusted

from guestbook import config
from guestbook.i18n import gettext
from guestbook.lib import scope_headers


def _incoming():  # noqa: ANN202 (a Request or a Websocket)
    """The request, or a WebSocket's handshake: the host and head are checked alike
    (the object, not its proxy: `web.pipeline`)."""
    return (websocket if has_websocket_context() else request)._get_current_object()


async def check_host() -> None:
    """400 for a Host header (or a trusted proxy's X-Forwarded-Host) not ours, so no
    link or redirect is ever built from an attacker's host name."""
    if not host_is_trusted(_incoming().host, config.current().hosts):
        raise BadRequest(gettext("This site does not answer to that host name."))


async def check_head_size() -> None:
    """431 above `max_head_bytes`. hypercorn's `h11_max_incomplete_size` only refuses
    a head still incomplete at that size; one that arrives whole gets here."""
    scope = _incoming().scope
    size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
    if size > config.current().max_head_bytes:
        raise RequestHeaderFieldsTooLarge()  # errors.py says why, in the page's language


# A body is announced by one of these (HTTP/1.1 allows no other way).
_BODY_HEADERS = frozenset((b"content-length", b"transfer-encoding"))


async def read_body() -> None:
    """Wait for the whole body, at most `body_timeout` seconds (408), at most
    `max_body_bytes` (413); later `await request.form` reads it from memory. A GET or
    HEAD that announces no body has none to wait for (the wait costs a task)."""
    method = request._get_current_object().method
    if method in ("GET", "HEAD") and not scope_headers.has_any(_BODY_HEADERS):
        return
    await request.get_data()
