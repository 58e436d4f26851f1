"""List pages kept whole: one shared copy for readers, one per login for members;
revalidated by ETag (`web.conditional`).

A reader (a visitor with neither a session nor a login cookie) sees what every reader
sees: the logged-out menu, no form token, no flash. So a list page's whole response
is kept per worker, keyed by the URL, what else the page reads from the request (the
countdown's day, the language, what the view names) and the content version
(`cache.versions`): a repeat visit costs one small query and no rendering. Readers get
no cookie, and a `Cache-Control` that lets a shared cache (the nginx sample) keep the
page briefly.

A member's page differs only by who they are and their session's form token, so it
is kept too, with those in its key, whenever no flash message waits to be shown; it
stays private. A view may keep parts of its page under the same key, without the
version (`g.page_key`): the main page keeps a member's page around its list.

The same goes for a message's fragment, which every open page asks for after each live
event: a reader's is kept and public, a member's neither (`messages.views.fragment`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import ParamSpec

from quart import Request, Response, current_app, g, make_response, request, session

from guestbook import i18n
from guestbook.cache import versions
from guestbook.metrics import PAGE_CACHE
from guestbook.metrics.batched import BatchedCounter
from guestbook.web.conditional import body_of, etag
from guestbook.web.csrf import csrf_token

P = ParamSpec("P")
# Browsers ask again every time (a 304 is cheap); a shared cache may answer for one
# second (nginx reads s-maxage): a burst of readers costs the app one page a second,
# and a new message reaches every reader within that second. A writer has cookies,
# so sees their own message at once.
READER_CACHE_CONTROL = "public, max-age=0, s-maxage=1"
# Counted in memory, written once a second (`metrics.batched`): a hit is most requests.
HITS, MISSES = BatchedCounter(PAGE_CACHE.labels("hit")), BatchedCounter(PAGE_CACHE.labels("miss"))


@dataclass(frozen=True)
class Page:
    body: bytes
    etag: str


def _is_reader(asked: Request) -> bool:
    """A GET from a visitor with no session and no login cookie."""
    cookies, config = asked.cookies, current_app._get_current_object().config
    return (
        asked.method == "GET"
        and config["SESSION_COOKIE_NAME"] not in cookies
        and config["QUART_AUTH_COOKIE_NAME"] not in cookies
    )


def _key(asked: Request, reader: bool, also: Callable[[], Hashable]) -> tuple | None:
    """Whatever the page reads from the request; None for a request whose page is not
    kept."""
    if asked.method != "GET":
        return None
    here = g._get_current_object()
    page = (asked.full_path, also(), here.countdown.badge, i18n.locale())
    if reader:
        return page
    user = here.user
    if user is None or session._get_current_object().get("_flashes"):  # shown once, then gone
        return None
    # What the menu shows of the member, and the token their forms carry (a fresh one,
    # if the session's belongs to another login, marks the session modified: that page
    # is then not kept).
    return (*page, user.id, user.username, user.role, csrf_token())


def _nothing() -> None:
    return None


def _always() -> bool:
    return True


def kept_whole(
    also: Callable[[], Hashable] = _nothing,
    members: bool = True,
    kept_if: Callable[[], bool] = _always,
) -> Callable[[Callable[P, Awaitable[object]]], Callable[P, Awaitable[Response]]]:
    """The view's page, kept whole at the current content version; `also` gives what
    else of the request the page shows (a cookie's choice), which is then in its key.
    `members=False`: only readers' copies (a member asks for this page once). A request
    for which `kept_if()` is false gets the view's own answer, neither kept nor public."""
    return functools.partial(_kept_whole, also=also, members=members, kept_if=kept_if)


def _kept_whole(
    view: Callable[P, Awaitable[object]],
    also: Callable[[], Hashable],
    members: bool,
    kept_if: Callable[[], bool],
) -> Callable[P, Awaitable[Response]]:
    @functools.wraps(view)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        asked = request._get_current_object()  # the object, not its proxy (web.pipeline)
        reader = _is_reader(asked)
        keep = (reader or members) and kept_if()
        key = _key(asked, reader, also) if keep else None
        version = None if key is None else await versions.content_version()
        if version is None:  # or no version row: nothing would tell a write, keep nothing
            return await make_response(await view(*args, **kwargs))
        pages = versions.pages_at(version)
        page = pages.get_recent((version, key))
        (MISSES if page is None else HITS).inc()
        if page is None:
            # The view may keep a part of its page under the same key (`messages.shells`);
            # nothing after it in this request may take the key for its own.
            g.page_key = key
            try:
                response = await make_response(await view(*args, **kwargs))
            finally:
                del g.page_key
            # A page that wrote to the session (a new token, a flash) is not kept.
            if response.status_code != 200 or session.modified:
                return response
            body = await body_of(response)
            page = Page(body, etag(body))
            pages.put((version, key), page)
        response = Response(page.body, content_type="text/html; charset=utf-8")
        if reader:
            response.headers["Cache-Control"] = READER_CACHE_CONTROL  # Vary: web.headers
        response.set_etag(page.etag)
        return response

    return wrapped
