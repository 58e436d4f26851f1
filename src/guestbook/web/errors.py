"""Error pages: every failure answers a page in the site's style, never a traceback;
under a prefix a front names (the JSON API's `/api/`), in that front's own form."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from quart import Quart, Response, current_app, g, has_websocket_context, render_template, request
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, ServiceUnavailable
from werkzeug.routing.exceptions import WebsocketMismatch

from guestbook.i18n import N_, gettext

log = logging.getLogger(__name__)
_EXT = "guestbook.web.errors"
# What a front answers instead of a page: (status, title, description, headers, error).
Render = Callable[[int, str, str, list, HTTPException], Awaitable[Response]]

TITLES = {
    400: N_("Bad request"),
    401: N_("Please log in"),
    403: N_("Not yours"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    408: N_("Too slow"),
    412: N_("Changed meanwhile"),
    413: N_("Too large"),
    415: N_("Wrong kind of body"),
    422: N_("Not accepted"),
    429: N_("Slow down"),
    431: N_("Headers too large"),
    500: N_("Something broke"),
    503: N_("Down for a moment"),
}
# Said instead of Werkzeug's own (English-only) descriptions.
DESCRIPTIONS = {
    400: N_("The request could not be understood."),
    401: N_("Please log in to see this page."),
    403: N_("You may not do that."),
    404: N_("There is no page at this address."),
    405: N_("This address does not take that kind of request."),
    408: N_("The request took too long to arrive."),
    412: N_("What you sent was based on an older version."),
    413: N_("What you sent is too large."),
    415: N_("This address does not take that kind of body."),
    422: N_("Some of what you sent was refused."),
    429: N_("Too many requests. Please wait a little and try again."),
    431: N_("The request's headers are too large."),
    500: N_("Sorry, that went wrong on our side. It has been logged."),
    503: N_("The guestbook is down for a moment. Please try again shortly."),
}


def _forget_expired_user() -> None:
    """A failed write rolls the request's session back, which expires `g.user`; the
    menu reading its name would then go back to the database, which may be what
    failed. Such a page shows the visitor as logged out instead."""
    user = g.get("user")
    if user is not None and inspect(user).expired_attributes:
        g.user = None


async def _page(error: HTTPException):
    # Keep Retry-After (429, 503) and Allow (405); the body is ours.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    if has_websocket_context():
        # A refused WebSocket handshake: there is no `request` for the page's template,
        # and no browser shows the body anyway. A plain answer, never a traceback; a
        # page's URL is no socket either (werkzeug's 400 "websocket mismatch").
        code = 404 if isinstance(error, WebsocketMismatch) else error.code or 500
        text = f"{code} {TITLES.get(code, error.name)}\n"
        return Response(text, code, headers, content_type="text/plain; charset=utf-8")
    _forget_expired_user()
    code = error.code or 500
    description = error.description
    werkzeugs_own = type(error).__module__ == "werkzeug.exceptions"
    if werkzeugs_own and description == type(error).description and code in DESCRIPTIONS:
        description = DESCRIPTIONS[code]
    title = gettext(TITLES[code]) if code in TITLES else error.name
    # Our own descriptions are marked with N_ or translated where raised.
    description = gettext(description) if description else ""
    for prefix, render in current_app.extensions[_EXT]:
        if request.path.startswith(prefix):
            return await render(code, title, description, headers, error)
    html = await render_template(
        "errors/error.html", code=code, title=title, description=description
    )
    return html, error.code, headers


def init_app(app: Quart, fronts: tuple[tuple[str, Render], ...] = ()) -> None:
    """`fronts`: (path prefix, how its errors are answered), for a front that is no
    page (the JSON API's problem documents); `web` imports no feature."""
    app.extensions[_EXT] = fronts
    app.register_error_handler(HTTPException, _page)

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    async def _database_unavailable(error: Exception):
        # A lost or refused database connection is an outage, not a bug: 503, and the
        # request's transaction is rolled back by teardown, so nothing half-written stays.
        if isinstance(error, DBAPIError) and not (
            error.connection_invalidated or _is_connection_error(error)
        ):
            return await _internal(error)
        log.warning("database unavailable: %s", error)
        if isinstance(error, DBAPIError) and _mentions(error, _FULL):
            said = gettext(
                "The guestbook has no room to store anything just now, so nothing was saved. "
                "Please try again later."
            )
        else:
            said = gettext("The guestbook cannot reach its database. Please try again shortly.")
        return await _page(ServiceUnavailable(said, retry_after=5))

    @app.errorhandler(OSError)
    async def _os_error(error: OSError):
        # A refused or unreachable database raises a bare OSError from the driver. One
        # that names a file is the filesystem's: Quart's static files raise for a name
        # it refuses (too long, say) where Flask's answer 404, and so do we.
        if error.filename is not None:
            return await _page(NotFound())
        return await _database_unavailable(error)

    @app.errorhandler(Exception)
    async def _internal(error: Exception):
        log.exception("unhandled error", exc_info=error)
        return await _page(InternalServerError(gettext(DESCRIPTIONS[500])))


# What a driver says when the database is away, or cannot take a write: an outage
# (503), not a bug.
_UNAVAILABLE = (
    "connect",  # and "connection"
    "unable to open database",
    "terminating",
    "closed",
    "locked",  # SQLite's busy timeout ran out
    "statement timeout",  # PostgreSQL gave up waiting (for a lock, say)
    "lock timeout",
)
_FULL = (
    "disk is full",  # SQLite: the disk (or its max_page_count) has no room left
    "no space left",  # PostgreSQL could not extend a file
)


def _mentions(error: DBAPIError, hints: tuple[str, ...]) -> bool:
    text = str(error.orig).lower()
    return any(hint in text for hint in hints)


def _is_connection_error(error: DBAPIError) -> bool:
    return _mentions(error, _UNAVAILABLE + _FULL)
