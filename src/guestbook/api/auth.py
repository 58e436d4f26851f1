"""Who is asking the API: the member of the `Authorization: Bearer` token, and nothing
else. Cookies are never read here (the cookie login step skips API views), so a page's
login cannot be used through the API from another site, and no CSRF check applies
(`web.csrf.bearer_only`).

Refusals follow RFC 6750: no token where one is needed is a 401 with a bare
`WWW-Authenticate: Bearer` challenge; a header that is no bearer token a 400
(`invalid_request`); a wrong, revoked or blocked member's token a 401
(`invalid_token`), on every route, public reads included; a read token where writing
needs a write token a 403 (`insufficient_scope`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import g, request
from quart_schema import security_scheme
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, Unauthorized

from guestbook.accounts import api_tokens
from guestbook.i18n import gettext
from guestbook.models import READ, WRITE, ApiToken, User

__all__ = ["READ", "WRITE", "bearer", "member"]  # the scopes, as views name them
from guestbook.web.csrf import bearer_only

P = ParamSpec("P")
T = TypeVar("T")
REALM = 'Bearer realm="guestbook"'
SCHEME = "bearer"  # the OpenAPI security scheme's name (`docs`)


class _Challenge(HTTPException):
    """An HTTP error with the RFC 6750 challenge its status calls for."""

    challenge = REALM

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", self.challenge)]


class NoToken(_Challenge, Unauthorized):
    def __init__(self) -> None:
        super().__init__(
            gettext("This needs a token: Authorization: Bearer <token> (see your account page).")
        )


class MalformedToken(_Challenge, BadRequest):
    challenge = f'{REALM}, error="invalid_request"'

    def __init__(self) -> None:
        super().__init__(gettext("Send the token as Authorization: Bearer <token>."))


class InvalidToken(_Challenge, Unauthorized):
    challenge = f'{REALM}, error="invalid_token"'

    def __init__(self) -> None:
        super().__init__(gettext("That token is not valid: it may have been revoked."))


class ReadOnlyToken(_Challenge, Forbidden):
    challenge = f'{REALM}, error="insufficient_scope", scope="{WRITE}"'

    def __init__(self) -> None:
        super().__init__(gettext("That token may only read: make a write token to write."))


async def _token() -> ApiToken | None:
    """The request's token, if it sent one; raises for one that is no good."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isascii() or len(token) > 200:
        raise MalformedToken()
    found = await api_tokens.authenticate(token)
    if found is None:
        raise InvalidToken()
    return found


def member() -> User:
    """The token's member, in a view that required a token."""
    return g.api_token.user


def bearer(
    scope: str | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """A view of the API: a token is checked if sent; `scope` (read or write) makes one
    needed, of that scope (a write token reads too). The view is `bearer_only`."""

    def decorator(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @wraps(view)
        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
            g.api_token = token = await _token()
            if scope is not None and token is None:
                raise NoToken()
            if scope == WRITE and token is not None and token.scope != WRITE:
                raise ReadOnlyToken()
            return await view(*args, **kwargs)

        if scope is not None:
            wrapped = security_scheme([{SCHEME: [scope]}])(wrapped)
        return bearer_only(wrapped)

    return decorator
