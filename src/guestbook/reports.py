"""Members report messages: once each, with an optional reason. When
GUESTBOOK_REPORT_HIDE_THRESHOLD distinct members have open reports on a message, it
is hidden until a moderator decides (moderation.py answers the reports)."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from werkzeug.exceptions import Forbidden, NotFound

from . import audit, config, db
from .auth import login_required
from .forms import FieldError, check_reason, text
from .i18n import gettext
from .models import Message, Report, utcnow
from .security import safe_next

bp = Blueprint("reports", __name__)


async def _reportable(message_id: int, lock: bool = False) -> Message:
    """The message, if this member may report it. `lock`: hold its row until commit,
    so reports on one message count one after another (PostgreSQL; SQLite's one
    connection already does)."""
    query = select(Message).where(Message.id == message_id)
    if lock:
        query = query.with_for_update(of=Message)
    message = await g.db.scalar(query)
    if message is None or not message.visible:
        raise NotFound(gettext("There is no such message."))
    if message.writer_id == g.user.id:
        raise Forbidden(gettext("You cannot report your own message."))
    return message


async def _hide_if_reported_enough(message: Message) -> None:
    threshold = config.current().report_hide_threshold
    if not threshold:
        return
    count = await g.db.scalar(
        select(func.count()).where(Report.message_id == message.id, Report.resolved_at.is_(None))
    )
    if count >= threshold:
        message.hidden_at = utcnow()
        message.hidden_by = None
        audit.record(
            g.db, audit.BY_REPORTS, "hide", message=message, reason=f"{count} members reported it"
        )


@bp.route("/messages/<int:message_id>/report", methods=["GET", "POST"])
@login_required
async def report(message_id: int):
    if request.method == "GET":
        message = await _reportable(message_id)
        await db.release()
        back = safe_next(request.args.get("next"), url_for("messages.index"))
        return await render_template(
            "moderation/report.html", message=message, reason="", error=None, back=back
        )
    form = await request.form
    back = safe_next(text(form, "next"), url_for("messages.index"))
    raw = text(form, "reason")
    message = await _reportable(message_id, lock=True)
    try:
        reason = check_reason(raw)
    except FieldError as err:
        await db.release()
        return await render_template(
            "moderation/report.html", message=message, reason=raw, error=err.message, back=back
        ), 400
    mine = select(Report.id).where(Report.message_id == message.id, Report.reporter_id == g.user.id)
    if await g.db.scalar(mine) is not None:
        await db.release()
        await flash(gettext("You have already reported this message."))
        return redirect(back)
    g.db.add(Report(message_id=message.id, reporter_id=g.user.id, reason=reason))
    await g.db.flush()
    await _hide_if_reported_enough(message)
    await g.db.commit()
    await flash(gettext("Thank you. A moderator will look at it."))
    return redirect(back)
