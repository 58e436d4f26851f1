"""The site's cookies beside quart-auth's: Flask's signed session, with its signer made
once, and the cookies the site's own scripts read and write."""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer
from quart import Quart, Response
from quart.sessions import SecureCookieSessionInterface

from guestbook import config

ONE_YEAR = 365 * 24 * 3600


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
