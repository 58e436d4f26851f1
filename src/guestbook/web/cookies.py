"""The site's cookies beside quart-auth's: Flask's signed session, with its signer made
once, and the cookies the site's own scripts read and write.

Both signed cookies, the session and quart-auth's login cookie, come back unchanged on
every request of a visitor, so each worker remembers the values whose signature it has
checked (`_Verified`): a member's next request reads them from a dictionary, where
checking costs a key derivation, two HMACs and a JSON decode on every request
(bench/RESULTS.md, round six). The age is still checked against the cookie's own
signing time each time, so an expired cookie is refused as before; a value never
checked, or changed by a single byte, is checked in full.
"""

from __future__ import annotations

import time
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from quart import Quart, Response, current_app, g, has_request_context, has_websocket_context
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface
from quart.wrappers import BaseRequestWebsocket
from quart_auth import AuthUser, QuartAuth

from guestbook import config
from guestbook.lib.lru import LRU

ONE_YEAR = 365 * 24 * 3600
VERIFIED_CAPACITY = 1024  # per cookie and worker: the visitors of the last moments
# A session holding only these is kept as checked (a copy of a flat dict shares
# nothing a request could change); one with a list in it (flashes) is read anew.
_FLAT = (str, int, float, bool, type(None))
_LOGIN = "guestbook.web.cookies.login"


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


class _Verified(LRU):
    """Signed values already checked with one key: value -> (payload, signing time)."""

    def __init__(self) -> None:
        super().__init__(VERIFIED_CAPACITY)

    def payload(self, value: str, max_age: int) -> tuple[Any] | None:
        """`(payload,)` if `value` was checked and is not older than `max_age` seconds
        (itsdangerous' own rule: an age above it, or below zero, is expired)."""
        found = self.get_recent(value)
        if found is None:
            return None
        payload, signed = found
        return (payload,) if 0 <= int(time.time()) - signed <= max_age else None

    def keep(self, value: str, payload: object, signed: Any) -> None:  # noqa: ANN401
        self.put(value, (payload, int(signed.timestamp())))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with its signer made once, not on every request
    (Quart builds a new one for each, cookie or not), and the values it has checked
    remembered. One per app: the key is the app's."""

    _signer: URLSafeTimedSerializer | None = None

    def __init__(self) -> None:
        self._verified = _Verified()

    def get_signing_serializer(self, app: Quart) -> URLSafeTimedSerializer | None:
        if self._signer is None:
            self._signer = super().get_signing_serializer(app)
        return self._signer

    async def open_session(
        self, app: Quart, request: BaseRequestWebsocket
    ) -> SecureCookieSession | None:
        """Quart's, but for a value already checked."""
        signer = self.get_signing_serializer(app)
        if signer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie is None:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        if (known := self._verified.payload(cookie, max_age)) is not None:
            return self.session_class(known[0])
        try:
            data, signed = signer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, _FLAT) for v in data.values()):
            self._verified.keep(cookie, data, signed)
        return self.session_class(data)


class LoginCookie(QuartAuth):
    """quart-auth, with the login cookies it has checked remembered (it builds a
    serializer and checks the signature on every request), and the request's user
    read through `g`'s object, not its proxy (`web.pipeline`; quart-auth reads three
    attributes on every `current_user`)."""

    def __init__(self, app: Quart) -> None:
        self._verified: dict[tuple, _Verified] = {}  # per signing key
        super().__init__(app)
        app.extensions[_LOGIN] = self

    def load_user(self) -> AuthUser:
        """quart-auth's: this request's user, resolved from its cookie on first use."""
        if not (has_request_context() or has_websocket_context()):
            return self.user_class(None)
        here = g._get_current_object()
        user = getattr(here, self.attribute_name, None)
        if user is None:
            user = self.resolve_user()
            setattr(here, self.attribute_name, user)
        return user

    def load_token(self, token: str, app: Quart | None = None) -> str | None:
        """quart-auth's: the auth id signed into `token`, None if it is forged or old."""
        if app is None:
            app = current_app._get_current_object()
        keys = (*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key)
        verified = self._verified.get(keys) or self._verified.setdefault(keys, _Verified())
        if (known := verified.payload(token, self.duration)) is not None:
            return known[0]
        serializer = self.serializer_class(list(keys), self.salt)
        try:
            auth_id, signed = serializer.loads(token, max_age=self.duration, return_timestamp=True)
        except (BadSignature, SignatureExpired):
            return None
        verified.keep(token, auth_id, signed)
        return auth_id


def login_auth_id() -> str | None:
    """`quart_auth.current_user.auth_id`: the id in this request's login cookie, None
    without a valid one (read without quart-auth's proxies, `web.pipeline`)."""
    login: LoginCookie = current_app._get_current_object().extensions[_LOGIN]
    return login.load_user().auth_id


def init_app(app: Quart) -> None:
    app.session_interface = SessionInterface()
