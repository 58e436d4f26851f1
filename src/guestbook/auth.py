"""Signup, login and logout; the hook that puts the user on `g`; `login_required`.

As in Flask's tutorial (flaskr), `load_logged_in_user` runs before every request of
the app and sets `g.user`, and `login_required` sits beside it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Unauthorized

from . import logins, mail, passwords, ratelimit
from .config import Settings
from .forms import Errors, check_email, check_new_password, check_username, text
from .models import User
from .security import safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")

P = ParamSpec("P")
T = TypeVar("T")


@bp.before_app_request
async def load_logged_in_user() -> None:
    """Flask: `g.user = db.session.get(User, session["user_id"])`; here, the login
    cookie's token is looked up in `login_sessions` (one query, joined with the user)."""
    found = await logins.resolve()
    g.user, g.login_session = found if found else (None, None)


def login_required(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Pages send anonymous visitors to the login form (and back after); requests
    that want JSON get a plain 401."""

    @wraps(view)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        if g.user is None:
            if request.accept_mimetypes.best == "application/json":
                raise Unauthorized()
            back = request.full_path.rstrip("?") if request.method == "GET" else "/"
            return redirect(url_for("auth.login", next=back))  # type: ignore[return-value]
        return await view(*args, **kwargs)

    return wrapped


def _limits() -> dict[str, ratelimit.Limit]:
    s: Settings = current_app.config["SETTINGS"]
    return {
        "login_ip": ratelimit.Limit("login-ip", s.login_limit, s.login_window_seconds),
        "login_account": ratelimit.Limit("login-account", s.login_limit, s.login_window_seconds),
        "signup_ip": ratelimit.Limit("signup-ip", s.signup_limit, s.signup_window_seconds),
    }


async def _user_by(*, username: str | None = None, email: str | None = None) -> list[User]:
    conditions = []
    if username:
        conditions.append(func.lower(User.username) == username.lower())
    if email:
        conditions.append(func.lower(User.email) == email.lower())
    if not conditions:
        return []
    return list((await g.db.execute(select(User).where(or_(*conditions)))).scalars())


@bp.route("/signup", methods=["GET", "POST"])
async def signup():
    if request.method == "GET":
        return await render_template("auth/signup.html", values={}, errors={})
    data = await request.form
    values = {"username": text(data, "username").strip(), "email": text(data, "email").strip()}
    errors = Errors()
    username = errors.collect(check_username, values["username"])
    email = errors.collect(check_email, values["email"])
    password = errors.collect(
        check_new_password, text(data, "password"), text(data, "password_confirm")
    )
    if not errors:
        await ratelimit.hit(_limits()["signup_ip"], request.remote_addr or "")
        for taken in await _user_by(username=username, email=email):
            if taken.username.lower() == username.lower():
                errors["username"] = "That username is taken."
            if taken.email.lower() == email.lower():
                errors["email"] = "An account with that email already exists."
    if errors:
        return await render_template("auth/signup.html", values=values, errors=errors), 400

    user = User(
        username=username, email=email, password_hash=await passwords.hash_password(password)
    )
    g.db.add(user)
    try:
        await g.db.flush()  # assigns user.id for the welcome mail's row
        await mail.queue_welcome(g.db, user)
        await g.db.commit()
    except IntegrityError:
        # Someone took the name or address between our check and the insert.
        await g.db.rollback()
        errors["username"] = "That username or email was just taken. Try another."
        return await render_template("auth/signup.html", values=values, errors=errors), 400
    await logins.start(user, remember=False)
    await flash(f"Welcome aboard, {user.username}!")
    return redirect(url_for("messages.index"))


@bp.route("/login", methods=["GET", "POST"])
async def login():
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        return await render_template("auth/login.html", next_url=next_url, values={}, error=None)
    data = await request.form
    ident = text(data, "username").strip()
    password = text(data, "password")
    remember = text(data, "remember") in ("on", "1", "yes", "true")
    limits = _limits()
    ip = request.remote_addr or ""
    await ratelimit.check(limits["login_ip"], ip)
    await ratelimit.check(limits["login_account"], ident.lower())

    user = None
    if ident and len(ident) <= 254:
        found = await _user_by(email=ident) if "@" in ident else await _user_by(username=ident)
        user = found[0] if found else None
    if user is None:
        await passwords.dummy_verify(password)
        ok = False
    else:
        ok = await passwords.verify_password(user.password_hash, password)
    if not ok:
        await ratelimit.hit(limits["login_ip"], ip)
        await ratelimit.hit(limits["login_account"], ident.lower())
        return await render_template(
            "auth/login.html",
            next_url=next_url,
            values={"username": ident, "remember": remember},
            error="Wrong username or password.",
        ), 401

    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
    await logins.start(user, remember=remember)
    await flash(f"Logged in as {user.username}.")
    return redirect(next_url)


@bp.post("/logout")
async def logout():
    await logins.end_current()
    await flash("Logged out.")
    return redirect(url_for("messages.index"))
