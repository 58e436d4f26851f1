"""Who is asking: the request step that puts the member on `g`, and `login_required`.

As in Flask's tutorial (flaskr), `load_logged_in_user` runs before every request of
the app and sets `g.user`, and `login_required` sits beside it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import g, redirect, request, url_for
from werkzeug.exceptions import Unauthorized

from guestbook.accounts import login_sessions
from guestbook.web.csrf import is_bearer_only

P = ParamSpec("P")
T = TypeVar("T")


async def load_logged_in_user() -> None:
    """Flask: `g.user = db.session.get(User, session["user_id"])`; here, the login
    cookie's token is looked up in `login_sessions` (one query, joined with the user).
    Not for the JSON API: it knows members by their tokens alone, so a page's login
    cannot be used through it from another site."""
    here = g._get_current_object()  # the object, not its proxy (web.pipeline)
    if is_bearer_only():
        here.user = here.login_session = None
        return
    found = await login_sessions.resolve()
    here.user, here.login_session = found if found else (None, None)


def login_required(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Pages send anonymous visitors to the login form (and back after); requests
    that send or want JSON get a plain 401."""

    @wraps(view)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        if g.user is None:
            if request.is_json or request.accept_mimetypes.best == "application/json":
                raise Unauthorized()
            back = request.full_path.rstrip("?") if request.method == "GET" else "/"
            return redirect(url_for("auth.login", next=back))  # type: ignore[return-value]
        return await view(*args, **kwargs)

    return wrapped
