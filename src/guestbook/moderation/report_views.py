"""Members report messages: once each, with an optional reason (`services.report`)."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for

from guestbook import db
from guestbook.accounts.auth import login_required
from guestbook.forms import FieldError, check_reason, text
from guestbook.i18n import gettext
from guestbook.moderation import services
from guestbook.web.urls import safe_next

bp = Blueprint("reports", __name__)


@bp.route("/messages/<int:message_id>/report", methods=["GET", "POST"])
@login_required
async def report(message_id: int):
    if request.method == "GET":
        message = await services.reportable(g.user, message_id)
        await db.release()
        back = safe_next(request.args.get("next"), url_for("messages.index"))
        return await render_template(
            "moderation/report.html", message=message, reason="", error=None, back=back
        )
    form = await request.form
    back = safe_next(text(form, "next"), url_for("messages.index"))
    raw = text(form, "reason")
    try:
        reason = check_reason(raw)
    except FieldError as err:
        message = await services.reportable(g.user, message_id)
        await db.release()
        return await render_template(
            "moderation/report.html", message=message, reason=raw, error=err.message, back=back
        ), 400
    if await services.report(g.user, message_id, reason):
        await flash(gettext("Thank you. A moderator will look at it."))
    else:
        await flash(gettext("You have already reported this message."))
    return redirect(back)
