"""CSRF protection: a token per visitor in the signed session, checked on every unsafe
request, `same_site_only` for the few harmless POSTs that carry none, and
`bearer_only` for the JSON API, which never reads cookies. Flask-WTF's
part this app needs, written for Quart (no maintained extension supports Quart 0.22)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from quart import Quart, current_app, request, session
from werkzeug.exceptions import BadRequest

from guestbook import config
from guestbook.i18n import N_
from guestbook.web.cookies import login_auth_id

V = TypeVar("V", bound=Callable[..., Any])

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
CSRF_LOGIN = "csrf_login"  # which login cookie the session's token was issued with


class CSRFError(BadRequest):
    description = N_(
        "This form has expired or did not come from this site. Reload the page and try again."
    )


def same_site_only(view: V) -> V:
    """Marks a POST view that needs no CSRF token (readers have no session to hold one)
    because it is harmless from this site; from another site it is refused, by the
    Sec-Fetch-Site or Origin header that browsers send with a form's POST."""
    view.same_site_only = True  # type: ignore[attr-defined]
    return view


def signed_link(view: V) -> V:
    """Marks a view whose URL carries a signed token that is its whole authority (a
    mail's one-click unsubscribe link, POSTed by the mail program itself): no form
    token, and from any site, since only the link's owner has it."""
    view.signed_link = True  # type: ignore[attr-defined]
    return view


# The one prefix whose views may go without the cookie CSRF check, and only if they
# are marked `bearer_only` too: a mark put on a page by mistake exempts nothing.
BEARER_PREFIX = "/api/"


def bearer_only(view: V) -> V:
    """Marks a view of the JSON API, which authenticates by an `Authorization: Bearer`
    token alone and never reads cookies (the cookie login step skips it too): a
    browser sends no such header to another site on its own, so there is nothing
    to forge, and no form token to ask for."""
    view.bearer_only = True  # type: ignore[attr-defined]
    return view


def is_bearer_only() -> bool:
    """Whether this request is the API's: its view is marked and under the prefix, or
    it is under the prefix and matched no view at all (nothing runs but the routing
    error, a 404 or 405, which is then the API's)."""
    if not request._get_current_object().path.startswith(BEARER_PREFIX):
        return False
    if request.endpoint is None:
        return True
    return getattr(current_app.view_functions.get(request.endpoint), "bearer_only", False)


def _cross_site() -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    # No header at all: an old browser or a script, which could send any token-less
    # request anyway.
    return origin is not None and origin != request.host_url.rstrip("/")


def _login_binding() -> str | None:
    """A fingerprint of this request's login cookie (None without one)."""
    token = login_auth_id()
    return hashlib.sha256(token.encode()).hexdigest()[:32] if token else None


def csrf_token() -> str:
    """The token for this visitor's forms, kept in the Flask-style signed `session`
    and bound to the login cookie it was issued with: a session (and its token) from
    before a login, or from another visitor, is no good with a member's login cookie,
    and a page rendered for such a pair issues a fresh token instead."""
    kept = session._get_current_object()  # the object, not its proxy (web.pipeline)
    token = kept.get(CSRF_FIELD)
    bound = _login_binding()
    if not token or kept.get(CSRF_LOGIN) != bound:
        token = kept[CSRF_FIELD] = secrets.token_urlsafe(32)
        kept[CSRF_LOGIN] = bound
    return token


async def check_csrf() -> None:
    method = request._get_current_object().method
    if method not in UNSAFE_METHODS or not config.current().csrf_enabled:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "signed_link", False) or is_bearer_only():
        return
    if getattr(view, "same_site_only", False):
        if _cross_site():
            raise CSRFError()
        return
    expected = session.get(CSRF_FIELD)
    if session.get(CSRF_LOGIN) != _login_binding():
        expected = None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        sent = (await request.form).get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CSRFError()


def init_app(app: Quart) -> None:
    app.add_template_global(csrf_token)
