"""CSRF, security headers and safe redirects: the parts of Flask-WTF and Talisman
this app needs, written for Quart (no maintained extension supports Quart 0.22); and
the cookies the site's own scripts share."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from itsdangerous import URLSafeTimedSerializer
from quart import Quart, Response, current_app, g, request, session
from quart.sessions import SecureCookieSessionInterface
from quart_auth import current_user
from werkzeug.exceptions import BadRequest
from werkzeug.routing import RequestRedirect

from . import config
from .i18n import DEFAULT as DEFAULT_LANGUAGE
from .i18n import N_

V = TypeVar("V", bound=Callable[..., Any])

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
CSRF_LOGIN = "csrf_login"  # which login cookie the session's token was issued with
ONE_YEAR = 365 * 24 * 3600

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline scripts: popup.js is a static file
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


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
    token = current_user.auth_id
    return hashlib.sha256(token.encode()).hexdigest()[:32] if token else None


def csrf_token() -> str:
    """The token for this visitor's forms, kept in the Flask-style signed `session`
    and bound to the login cookie it was issued with: a session (and its token) from
    before a login, or from another visitor, is no good with a member's login cookie,
    and a page rendered for such a pair issues a fresh token instead."""
    token = session.get(CSRF_FIELD)
    bound = _login_binding()
    if not token or session.get(CSRF_LOGIN) != bound:
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
        session[CSRF_LOGIN] = bound
    return token


async def check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or not config.current().csrf_enabled:
        return
    if getattr(current_app.view_functions.get(request.endpoint or ""), "same_site_only", False):
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


def set_script_cookie(response: Response, name: str, value: str) -> None:
    """A cookie the site's own scripts read and write too (the popup's, the language's):
    a year, the whole site, readable by scripts on purpose (it says nothing secret)."""
    response.set_cookie(
        name,
        value,
        max_age=ONE_YEAR,
        path="/",
        samesite="Lax",
        httponly=False,
        secure=config.current().cookie_secure,
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirects).

    Browsers read `//host`, `/\\host` and `https:host`-like forms as other sites,
    so only a plain absolute path with no backslash or control character passes.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its signer made once, not on every request
    (Quart builds a new one for each, cookie or not). One per app: the key is the app's."""

    _signer: URLSafeTimedSerializer | None = None

    def get_signing_serializer(self, app: Quart) -> URLSafeTimedSerializer | None:
        if self._signer is None:
            self._signer = super().get_signing_serializer(app)
        return self._signer


def init_app(app: Quart) -> None:
    app.session_interface = SessionInterface()
    app.add_template_global(csrf_token)


_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_PRODUCTION_HEADERS = (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
# Pages show per-visitor state (menu, CSRF token): never cache them in shared caches.
_PAGE_HEADERS = (("Cache-Control", "private, no-cache"),)


@functools.cache  # four lists, made once rather than on every response
def _defaults(production: bool, page: bool) -> tuple[tuple[str, str], ...]:
    return _HEADERS + _PRODUCTION_HEADERS * production + _PAGE_HEADERS * page


async def routing_redirect_stays_here(response: Response) -> Response:
    """A response step: werkzeug's redirect from `//users/x` to `/users/x` is built
    from the Host header; keep only its path, so it can never point at another site."""
    if isinstance(request.routing_exception, RequestRedirect) and response.location:
        target = urlsplit(response.location)
        response.location = urlunsplit(("", "", target.path, target.query, ""))
    return response


async def add_security_headers(response: Response) -> Response:
    """A response step: each header unless the view set its own (one pass, not a search
    per header); and on pages, what their language depends on (see i18n.py)."""
    headers = response.headers
    present = {key.lower() for key, _value in headers.items()}
    page = response.mimetype == "text/html"
    for key, value in _defaults(config.current().is_production, page):
        if key.lower() not in present:
            headers.add(key, value)
    if page:
        # A shared cache must key a page on the cookie and Accept-Language.
        headers.add("Vary", "Cookie, Accept-Language")
        headers["Content-Language"] = g.get("locale", DEFAULT_LANGUAGE)
    return response
