"""The signed-in user's own account: one page of their settings (reply mail), their
login sessions, their API tokens, the password, their data to download, and deleting
the account."""

from __future__ import annotations

import json

from quart import Blueprint, Response, flash, g, redirect, render_template, request, url_for

from guestbook import config, db
from guestbook.accounts import api_tokens, deletion, login_sessions, own_data, services
from guestbook.accounts.auth import login_required
from guestbook.forms import Errors, FieldError, check_new_password, text
from guestbook.i18n import gettext, ngettext

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("")
@login_required
async def settings():
    return await _render_settings()


async def _render_settings(new_token: str | None = None, errors: Errors | None = None):
    """The page; `new_token` shown once, just made. Never kept by any cache: its
    `Cache-Control` is `private, no-cache` like every page, and this one has no ETag
    a shared cache could reuse (`no-store` below, for the token)."""
    html = await render_template(
        "account/settings.html",
        reply_mail=await services.wants_reply_mail(g.user),
        reply_mail_minutes=f"{config.current().reply_mail_minutes:g}",
        logins=await login_sessions.of_user(g.user),
        current=g.login_session,
        tokens=await api_tokens.of_user(g.user),
        new_token=new_token,
        quarantine_days=config.current().name_quarantine_days,
        errors=errors or {},
    )
    return html, 400 if errors else 200, {"Cache-Control": "no-store"} if new_token else {}


@bp.post("/tokens")
@login_required
async def new_token():
    form = await request.form
    try:
        token = await api_tokens.issue(g.user, text(form, "name"), text(form, "scope"))
    except FieldError as err:
        return await _render_settings(errors=Errors({err.field: err.message}))
    return await _render_settings(new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
async def revoke_token(token_id: int):
    await request.form  # read whole before writing: a 413 must have revoked nothing
    if await api_tokens.revoke(g.user, token_id):
        await flash(gettext("The token is revoked."))
    else:
        await flash(gettext("That token was revoked already."))
    return redirect(url_for("account.settings") + "#tokens")


@bp.get("/export")
@login_required
async def export():
    """One JSON file of everything kept about the member, saved rather than shown."""
    data = await own_data.export(g.user)
    await db.release()
    response = Response(
        json.dumps(data, ensure_ascii=False, indent=1), content_type="application/json"
    )
    name = f"guestbook-{g.user.username}.json"  # a username is [A-Za-z0-9_-]: no quoting
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"  # private: kept by no cache
    return response


@bp.post("/delete")
@login_required
async def delete_account():
    """With the member's password (tried like the password form's, within its limit),
    the account goes with everything of theirs, and this browser is logged out."""
    password = text(await request.form, "password")
    try:
        if not password:
            raise FieldError("password", gettext("Type your password to delete your account."))
        await services.check_password(g.user, password, field="password")
    except FieldError as err:
        return await _render_settings(errors=Errors({err.field: err.message}))
    await deletion.delete_account(g.user)
    await login_sessions.end_current()  # the cookie and the session; the row went already
    await flash(gettext("Your account is deleted, with everything you wrote."))
    return redirect(url_for("messages.index"))


@bp.post("/reply-mail")
@login_required
async def reply_mail():
    on = text(await request.form, "reply_mail") == "on"
    await services.set_reply_mail(g.user, on)
    await flash(gettext("Reply mail is on.") if on else gettext("Reply mail is off."))
    return redirect(url_for("account.settings"))


@bp.get("/sessions")
@login_required
async def sessions():
    logins = await login_sessions.of_user(g.user)
    return await render_template("account/sessions.html", logins=logins, current=g.login_session)


@bp.post("/sessions/<int:login_id>/revoke")
@login_required
async def revoke(login_id: int):
    if login_id == g.login_session.id:
        await login_sessions.end_current()
        await flash(gettext("This session is signed out."))
        return redirect(url_for("messages.index"))
    if await login_sessions.revoke(g.user, login_id):
        await flash(gettext("That session is signed out."))
    else:
        await flash(gettext("That session had already ended."))
    return redirect(url_for("account.sessions"))


@bp.post("/sessions/revoke-others")
@login_required
async def revoke_others():
    count = await login_sessions.revoke_all(g.user, keep=g.login_session)
    await flash(
        ngettext("Signed out %(num)s other session.", "Signed out %(num)s other sessions.", count)
    )
    return redirect(url_for("account.sessions"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
async def password():
    if request.method == "GET":
        return await render_template("account/password.html", errors={})
    data = await request.form
    errors = Errors()
    new = errors.collect(check_new_password, text(data, "password"), text(data, "password_confirm"))
    try:
        await services.check_password(g.user, text(data, "current_password"))
    except FieldError as err:
        errors[err.field] = err.message
    if errors:
        return await render_template("account/password.html", errors=errors), 400
    await services.change_password(g.user, new, keep=g.login_session)
    await flash(gettext("Password changed. Your other sessions were signed out."))
    return redirect(url_for("account.sessions"))
