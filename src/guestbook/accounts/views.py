"""Signup, login and logout, and the password reset by mail: read the form, call
`services`, render or redirect."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for

from guestbook import config, i18n
from guestbook.accounts import login_sessions, names, services
from guestbook.forms import check_email, check_new_email, check_new_password, repeated, text
from guestbook.i18n import gettext
from guestbook.limits import spam
from guestbook.web.cookies import set_script_cookie
from guestbook.web.urls import safe_next

bp = Blueprint("auth", __name__, url_prefix="/auth")


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
    username = errors.collect(names.check, values["username"])
    email = errors.collect(check_new_email, values["email"])
    password = errors.collect(
        check_new_password, text(data, "password"), text(data, "password_confirm")
    )
    if not errors:
        try:
            # The language they signed up in is theirs, and their mail's.
            user = await services.sign_up(
                username, email, password, locale=g.locale, address=request.remote_addr or ""
            )
        except services.Taken as taken:
            errors.update(taken.errors)
    if errors:
        return await render_template("auth/signup.html", values=values, errors=errors), 400
    await login_sessions.start(user, remember=False)
    await flash(gettext("Welcome aboard, %(name)s!", name=user.username))
    return redirect(url_for("messages.index"))


@bp.route("/login", methods=["GET", "POST"])
async def login():
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        return await render_template("auth/login.html", next_url=next_url, values={}, error=None)
    data = await request.form
    ident = text(data, "username").strip()
    remember = text(data, "remember").strip().lower() in config.TRUE_WORDS
    user = await services.log_in(ident, text(data, "password"), request.remote_addr or "")
    if user is None:
        return await render_template(
            "auth/login.html",
            next_url=next_url,
            values={"username": ident, "remember": remember},
            error=gettext("Wrong username or password."),
        ), 401
    await login_sessions.start(user, remember=remember)
    response = redirect(next_url)
    if user.locale:
        # The member's saved language follows them to this browser, from this flash on.
        set_script_cookie(response, i18n.COOKIE, user.locale)
    with i18n.using(user.locale or g.locale):
        await flash(gettext("Logged in as %(name)s.", name=user.username))
    return response


@bp.post("/logout")
async def logout():
    await login_sessions.end_current()
    await flash(gettext("Logged out."))
    return redirect(url_for("messages.index"))


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
    # The same page and status whatever the address, so it tells no one who has an account.
    await services.send_password_reset(email, request.remote_addr or "")
    return await render_template(
        "auth/forgot.html", values=values, errors={}, sent=True, minutes=_reset_minutes()
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
async def reset(token: str):
    user = await services.user_from_reset_token(token)
    if user is None:
        return await _reset_link_dead()
    if request.method == "GET":
        return await render_template("auth/reset.html", user=user, errors={})
    data = await request.form
    errors = repeated(data, "password", "password_confirm")
    password = errors.collect(
        check_new_password, text(data, "password"), text(data, "password_confirm")
    )
    if errors:
        return await render_template("auth/reset.html", user=user, errors=errors), 400
    if not await services.reset_password(user, password):
        return await _reset_link_dead()
    await login_sessions.start(user, remember=False)
    await flash(
        gettext("Your password is reset and you are logged in. Every other session was signed out.")
    )
    return redirect(url_for("messages.index"))


async def _reset_link_dead():  # noqa: ANN202
    return await render_template("auth/reset.html", user=None, minutes=_reset_minutes()), 400
