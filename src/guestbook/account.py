"""The signed-in user's own account: active login sessions and the password."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for

from . import logins, members, passwords, ratelimit
from .auth import login_required
from .forms import Errors, check_new_password, text
from .i18n import gettext, ngettext

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/sessions")
@login_required
async def sessions():
    return await render_template(
        "account/sessions.html", logins=await logins.of_user(g.user), current=g.login_session
    )


@bp.post("/sessions/<int:login_id>/revoke")
@login_required
async def revoke(login_id: int):
    if login_id == g.login_session.id:
        await logins.end_current()
        await flash(gettext("This session is signed out."))
        return redirect(url_for("messages.index"))
    if await logins.revoke(g.user, login_id):
        await flash(gettext("That session is signed out."))
    else:
        await flash(gettext("That session had already ended."))
    return redirect(url_for("account.sessions"))


@bp.post("/sessions/revoke-others")
@login_required
async def revoke_others():
    count = await logins.revoke_all(g.user, keep=g.login_session)
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
    # Current passwords are tried against the account like logins, slot taken first,
    # so a stolen session cookie cannot be used to guess the password, even in a burst.
    slot = ratelimit.limits()["password_account"], f"id:{g.user.id}"
    await ratelimit.hit(*slot)
    if await passwords.verify_password(g.user.password_hash, text(data, "current_password")):
        await ratelimit.give_back(*slot)
    else:
        errors["current_password"] = gettext("That is not your current password.")
    if errors:
        return await render_template("account/password.html", errors=errors), 400
    await members.change(g.user, password_hash=await passwords.hash_password(new))
    # A changed password ends every other login: whoever knew the old one is out.
    await logins.revoke_all(g.user, keep=g.login_session)
    await flash(gettext("Password changed. Your other sessions were signed out."))
    return redirect(url_for("account.sessions"))
