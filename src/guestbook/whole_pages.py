"""List pages kept whole: one shared copy for readers, one per login for members;
revalidated by ETag.

A reader (a visitor with neither a session nor a login cookie) sees what every reader
sees: the logged-out menu, no form token, no flash. So a list page's whole response
is kept per worker, keyed by the URL, what else the page reads from the request (the
popup cookie, the countdown's day, the language) and the content version (see `list_cache`): a
repeat visit costs one small query and no rendering. Readers get no cookie, and a
`Cache-Control` that lets a shared cache (the nginx sample) keep the page briefly.

A member's page differs only by who they are and their session's form token, so it
is kept too, with those in its key, whenever no flash message waits to be shown; it
stays private.

Every HTML page carries an ETag (a hash of its body), and a request whose
`If-None-Match` names it gets a 304 instead of the body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec

from quart import Response, current_app, g, make_response, request, session

from . import i18n, list_cache, request_headers
from .security import csrf_token

P = ParamSpec("P")
POPUP_COOKIE = "popup_skip"
# Browsers ask again every time (a 304 is cheap); a shared cache may answer for one
# second (nginx reads s-maxage): a burst of readers costs the app one page a second,
# and a new message reaches every reader within that second. A writer has cookies,
# so sees their own message at once.
READER_CACHE_CONTROL = "public, max-age=0, s-maxage=1"


@dataclass(frozen=True)
class Page:
    body: bytes
    etag: str


def is_reader() -> bool:
    """A GET from a visitor with no session and no login cookie."""
    cookies, config = request.cookies, current_app.config
    return (
        request.method == "GET"
        and config["SESSION_COOKIE_NAME"] not in cookies
        and config["QUART_AUTH_COOKIE_NAME"] not in cookies
    )


def _etag(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _key() -> tuple | None:
    """Whatever the page reads from the request; None for a request whose page is not
    kept."""
    if request.method != "GET":
        return None
    popup = request.cookies.get(POPUP_COOKIE) == "yes"
    page = (request.full_path, popup, g.countdown.badge, i18n.locale())
    if is_reader():
        return page
    if g.user is None or session.get("_flashes"):  # a flash is shown once, then gone
        return None
    # What the menu shows of the member, and the token their forms carry (a fresh one,
    # if the session's belongs to another login, marks the session modified: that page
    # is then not kept).
    return (*page, g.user.id, g.user.username, g.user.role, csrf_token())


def kept_whole(view: Callable[P, Awaitable[object]]) -> Callable[P, Awaitable[Response]]:
    """The view's page, kept whole at the current content version."""

    @wraps(view)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        key = _key()
        version = None if key is None else await list_cache.content_version()
        if version is None:  # or no version row: nothing would tell a write, keep nothing
            return await make_response(await view(*args, **kwargs))
        pages = list_cache.pages_at(version)
        page = pages.get_recent((version, key))
        if page is None:
            response = await make_response(await view(*args, **kwargs))
            # A page that wrote to the session (a new token, a flash) is not kept.
            if response.status_code != 200 or session.modified:
                return response
            body = await _body(response)
            page = Page(body, _etag(body))
            pages.put((version, key), page)
        response = Response(page.body, content_type="text/html; charset=utf-8")
        if is_reader():
            response.headers["Cache-Control"] = READER_CACHE_CONTROL
            response.headers["Vary"] = "Cookie, Accept-Language"  # the language's sources
        response.set_etag(page.etag)
        return response

    return wrapped


# The headers that make a request conditional (werkzeug's `make_conditional` reads them).
_CONDITIONS = frozenset(
    (b"if-none-match", b"if-match", b"if-modified-since", b"if-unmodified-since", b"range")
)


async def answer_conditionally(response: Response) -> Response:
    """A response step: an ETag on every HTML page, and a 304 when the browser has
    that page."""
    if request.method != "GET" or response.status_code != 200:
        return response
    if response.mimetype != "text/html":
        return response
    if "ETag" not in response.headers:
        response.set_etag(_etag(await _body(response)))
    if not request_headers.has_any(_CONDITIONS):
        return response
    return await response.make_conditional(request)


async def _body(response: Response) -> bytes:
    """The body, read as it is when the view gave a str or bytes: `get_data` iterates
    it asynchronously, which cost a page that does no work about 2% of its time."""
    if isinstance(response.response, response.data_body_class):
        return response.response.data
    return await response.get_data()
