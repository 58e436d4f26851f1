"""Signup, login and logout; the hook that puts the user on `g`; `login_required`.

As in Flask's tutorial (flaskr), `load_logged_in_user` runs before every request of
the app and sets `g.user`, and `login_required` sits beside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from itsdangerous import BadData, URLSafeTimedSerializer
from quart import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import update
from werkzeug.exceptions import Unauthorized

from . import config, db, i18n, logins, mail, members, passwords, ratelimit, spam
from .forms import check_email, check_new_email, check_new_password, check_username, repeated, text
from .i18n import gettext
from .models import User
from .security import safe_next, set_script_cookie

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


async def load_logged_in_user() -> None:
    """Flask: `g.user = db.session.get(User, session["user_id"])`; here, the login
    cookie's token is looked up in `login_sessions` (one query, joined with the user)."""
    found = await logins.resolve()
    g.user, g.login_session = found if found else (None, None)


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


@bp.route("/signup", methods=["GET", "POST"])
async def signup():
    if request.method == "GET":
        return await render_template("auth/signup.html", values={}, errors={})
    data = await request.form
    values = {"username": text(data, "username").strip(), "email": text(data, "email").strip()}
    if spam.trapped(data):
        return await spam.decoy(gettext("Welcome aboard, %(name)s!", name=values["username"]))
    errors = repeated(data, "username", "email", "password", "password_confirm")
    errors.collect(spam.check_render_time, data)
    username = errors.collect(check_username, values["username"])
    email = errors.collect(check_new_email, values["email"])
    password = errors.collect(
        check_new_password, text(data, "password"), text(data, "password_confirm")
    )
    if not errors:
        await ratelimit.hit(ratelimit.limits()["signup_ip"], request.remote_addr or "")
        try:
            # The language they signed up in is theirs, and their mail's.
            user = await members.register(username, email, password, locale=g.locale)
        except members.Taken as taken:
            errors.update(taken.errors)
    if errors:
        return await render_template("auth/signup.html", values=values, errors=errors), 400
    await logins.start(user, remember=False)
    await flash(gettext("Welcome aboard, %(name)s!", name=user.username))
    return redirect(url_for("messages.index"))


@bp.route("/login", methods=["GET", "POST"])
async def login():
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        return await render_template("auth/login.html", next_url=next_url, values={}, error=None)
    data = await request.form
    ident = text(data, "username").strip()
    password = text(data, "password")
    remember = text(data, "remember").strip().lower() in config.TRUE_WORDS
    slots = await _take_login_slots(ident)
    user = await members.authenticate(ident, password)
    if user is None:
        return await render_template(
            "auth/login.html",
            next_url=next_url,
            values={"username": ident, "remember": remember},
            error=gettext("Wrong username or password."),
        ), 401
    for limit, subject in slots:  # a login with the right password does not count
        await ratelimit.give_back(limit, subject)
    await logins.start(user, remember=remember)
    response = redirect(next_url)
    if user.locale:
        # The member's saved language follows them to this browser, from this flash on.
        set_script_cookie(response, i18n.COOKIE, user.locale)
    with i18n.using(user.locale or g.locale):
        await flash(gettext("Logged in as %(name)s.", name=user.username))
    return response


async def _take_login_slots(ident: str) -> list[tuple[ratelimit.Limit, str]]:
    """Take this attempt's slots before the password is checked: 429 once the address,
    or the address on this name, has used its own up. Every address together on one
    name only slows past the ceiling, so no one can lock the owner out from elsewhere."""
    rules, ip = ratelimit.limits(), request.remote_addr or ""
    name = hashlib.sha256(members.login_key(ident).encode()).hexdigest()[:32]
    slots = [(rules["login_ip"], ip), (rules["login_name_ip"], f"{name}:{ip}")]
    for limit, subject in slots:
        await ratelimit.hit(limit, subject)
    slots.append((rules["login_name"], name))
    if await ratelimit.take(rules["login_name"], name) is not None:
        log.warning("login name %s past its ceiling: attempts slowed", name[:8])
        await asyncio.sleep(config.current().login_slowdown_seconds)
    return slots


@bp.post("/logout")
async def logout():
    await logins.end_current()
    await flash(gettext("Logged out."))
    return redirect(url_for("messages.index"))


# Password reset by mail. The link's token is signed with the app's secret and holds
# the user id and a fingerprint of the current password hash: it expires on its own,
# and dies the moment the password changes, so it works once.


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="guestbook password reset")


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def reset_token(user: User) -> str:
    return _reset_serializer().dumps([user.id, _password_fingerprint(user)])


async def _user_from_reset_token(token: str) -> User | None:
    """The user a reset link was made for; None if forged, expired or already used."""
    try:
        user_id, fingerprint = _reset_serializer().loads(
            token, max_age=config.current().reset_token_seconds
        )
    except (BadData, TypeError, ValueError):
        return None
    user = await g.db.get(User, user_id)
    if user is None or not hmac.compare_digest(_password_fingerprint(user), fingerprint):
        return None
    return user


def _reset_minutes() -> int:
    return config.current().reset_token_seconds // 60


@bp.route("/forgot", methods=["GET", "POST"])
async def forgot():
    if request.method == "GET":
        return await render_template("auth/forgot.html", values={}, errors={}, sent=False)
    data = await request.form
    values = {"email": text(data, "email").strip()}
    errors = repeated(data, "email")
    email = errors.collect(check_email, values["email"])
    if errors:
        return await render_template("auth/forgot.html", values=values, errors=errors), 400
    await ratelimit.hit(ratelimit.limits()["forgot_ip"], request.remote_addr or "")
    # The same page and status whatever the address, so it tells no one who has an
    # account; both paths run the same query and commit.
    user = await members.by_email(email)
    if user is not None:
        path = url_for("auth.reset", token=reset_token(user))
        await mail.queue_password_reset(g.db, user, path)
    await g.db.commit()
    return await render_template(
        "auth/forgot.html", values=values, errors={}, sent=True, minutes=_reset_minutes()
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
async def reset(token: str):
    user = await _user_from_reset_token(token)
    if user is None:
        return await render_template("auth/reset.html", user=None, minutes=_reset_minutes()), 400
    if request.method == "GET":
        return await render_template("auth/reset.html", user=user, errors={})
    data = await request.form
    errors = repeated(data, "password", "password_confirm")
    password = errors.collect(
        check_new_password, text(data, "password"), text(data, "password_confirm")
    )
    if errors:
        return await render_template("auth/reset.html", user=user, errors=errors), 400

    await db.release()  # no connection held while the hash runs
    new_hash = await passwords.hash_password(password)
    # Only if the password is still the one the link was made for: of two submissions
    # of one link (or a reset racing a password change), one wins.
    changed = await g.db.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=new_hash)
    )
    if changed.rowcount != 1:
        await g.db.rollback()
        return await render_template("auth/reset.html", user=None, minutes=_reset_minutes()), 400
    await logins.revoke_all(user)  # commits the new password with it
    await logins.start(user, remember=False)
    await flash(
        gettext("Your password is reset and you are logged in. Every other session was signed out.")
    )
    return redirect(url_for("messages.index"))
