"""The moderators' tools: hide, restore and delete any message, block and unblock
members, and the /moderation page (reports first, then recent messages and members,
blocked members, the audit log). Every action writes its audit entry in its own
transaction (`audit.record`).

Hiding keeps the row and takes it out of every public list, profile, count and feed
(they all select `Message.visible`); the content-version triggers fire on the update,
so no cached page keeps showing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import func, select, update
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, Forbidden, NotFound

from . import audit, config, db, logins, members
from .auth import login_required
from .forms import FieldError, check_reason, text
from .i18n import gettext
from .models import ID_MAX, Message, Report, User, utcnow
from .pagination import BadCursor
from .security import safe_next

bp = Blueprint("moderation", __name__)

P = ParamSpec("P")
T = TypeVar("T")
SHOWN = 50  # rows per section of the moderation page


def moderator_required(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Anonymous visitors go to the login form (as `login_required`); members get 403."""

    @wraps(view)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        if not g.user.is_moderator:
            raise Forbidden(gettext("Only moderators can do that."))
        return await view(*args, **kwargs)

    return login_required(wrapped)


@dataclass(frozen=True)
class Decision:
    """What a moderator's form sent: why, whether a box was ticked, where to go next."""

    reason: str
    checked: bool
    back: str


async def _decision(box: str = "") -> Decision:
    """The form, read whole before any write (a 413 or a bad field changes nothing)."""
    form: MultiDict[str, str] = await request.form
    try:
        reason = check_reason(text(form, "reason"))
        checked = config.parse_bool(text(form, box)) if box else False
    except FieldError as err:
        raise BadRequest(gettext("Reason: %(error)s", error=err.message)) from None
    except ValueError:
        raise BadRequest(gettext("That checkbox sent something a checkbox cannot.")) from None
    return Decision(reason, checked, safe_next(text(form, "next"), url_for("moderation.queue")))


async def _message(message_id: int) -> Message:
    message = await g.db.get(Message, message_id)
    if message is None:
        raise NotFound(gettext("There is no such message."))
    return message


async def _close_reports(message_id: int) -> None:
    """A moderator has decided: the open reports are answered."""
    await g.db.execute(
        update(Report)
        .where(Report.message_id == message_id, Report.resolved_at.is_(None))
        .values(resolved_at=utcnow())
    )


async def _done(decision: Decision, said: str):  # noqa: ANN202
    """Commit the action with its audit entry, say so, and go back."""
    await g.db.commit()
    await flash(said)
    return redirect(decision.back)


async def _set_hidden(message_id: int, hidden: bool):  # noqa: ANN202
    """Hide or show a message. Either way its open reports are answered, so only new
    ones count towards hiding it again; showing a reported, visible one keeps it."""
    decision = await _decision()
    message = await _message(message_id)
    if hidden:
        action, said = "hide", gettext("The message is hidden.")
        message.hidden_at = message.hidden_at or utcnow()
        message.hidden_by = g.user.id
    else:
        action = "unhide" if message.hidden_at else "keep"
        shown = gettext("The message is shown again.")
        said = shown if message.hidden_at else gettext("The message stays.")
        message.hidden_at = message.hidden_by = None
    await _close_reports(message.id)
    audit.record(g.db, g.user, action, message=message, reason=decision.reason)
    return await _done(decision, said)


@bp.post("/messages/<int:message_id>/hide")
@moderator_required
async def hide(message_id: int):
    return await _set_hidden(message_id, hidden=True)


@bp.post("/messages/<int:message_id>/unhide")
@moderator_required
async def unhide(message_id: int):
    return await _set_hidden(message_id, hidden=False)


@bp.post("/messages/<int:message_id>/remove")
@moderator_required
async def remove(message_id: int):
    """A moderator's Delete: the row goes (its reports with it); the log keeps its start."""
    decision = await _decision()
    message = await _message(message_id)
    audit.record(g.db, g.user, "delete", message=message, reason=decision.reason)
    await g.db.delete(message)
    return await _done(decision, gettext("The message is deleted."))


@bp.post("/users/<username>/block")
@moderator_required
async def block(username: str):
    decision = await _decision(box="hide_messages")
    user = await members.named(username)
    if user.id == g.user.id:
        raise Forbidden(gettext("You cannot block yourself."))
    if user.is_moderator:
        raise Forbidden(
            gettext("Moderators cannot be blocked. Demote them first (guestbook demote).")
        )
    if user.blocked_at is not None:
        await flash(gettext("%(name)s was already blocked.", name=user.username))
        return redirect(decision.back)
    now = utcnow()
    user.blocked_at = now
    if decision.checked:
        # The block's own time marks these, so unblocking can restore exactly them.
        await g.db.execute(
            update(Message)
            .where(Message.writer_id == user.id, Message.visible)
            .values(hidden_at=now, hidden_by=g.user.id)
        )
    action = "block+hide" if decision.checked else "block"
    audit.record(g.db, g.user, action, user=user, reason=decision.reason)
    # Ends every login of theirs at once, and commits the block with it.
    await logins.revoke_all(user)
    await flash(gettext("%(name)s is blocked and logged out everywhere.", name=user.username))
    return redirect(decision.back)


@bp.post("/users/<username>/unblock")
@moderator_required
async def unblock(username: str):
    decision = await _decision(box="restore_messages")
    user = await members.named(username)
    if user.blocked_at is None:
        await flash(gettext("%(name)s is not blocked.", name=user.username))
        return redirect(decision.back)
    if decision.checked:
        await g.db.execute(
            update(Message)
            .where(Message.writer_id == user.id, Message.hidden_at == user.blocked_at)
            .values(hidden_at=None, hidden_by=None)
        )
    user.blocked_at = None
    action = "unblock+restore" if decision.checked else "unblock"
    audit.record(g.db, g.user, action, user=user, reason=decision.reason)
    return await _done(decision, gettext("%(name)s may log in again.", name=user.username))


@dataclass(frozen=True)
class Reported:
    message: Message
    reports: list[tuple[str, str]]  # (reporter, reason) of each open report


async def _reported() -> list[Reported]:
    """Messages with open reports, most reported first."""
    counts = (
        select(
            Report.message_id,
            func.count().label("count"),
            func.max(Report.created_at).label("latest"),
        )
        .where(Report.resolved_at.is_(None))
        .group_by(Report.message_id)
        .subquery()
    )
    messages = list(
        await g.db.scalars(
            select(Message)
            .join(counts, counts.c.message_id == Message.id)
            .order_by(counts.c.count.desc(), counts.c.latest.desc())
            .limit(SHOWN)
        )
    )
    reasons: dict[int, list[tuple[str, str]]] = {m.id: [] for m in messages}
    rows = await g.db.execute(
        select(Report.message_id, User.username, Report.reason)
        .join(User, User.id == Report.reporter_id)
        .where(Report.message_id.in_(reasons), Report.resolved_at.is_(None))
        .order_by(Report.id)
    )
    for message_id, reporter, reason in rows:
        reasons[message_id].append((reporter, reason))
    return [Reported(m, reasons[m.id]) for m in messages]


@bp.get("/moderation")
@moderator_required
async def queue():
    reported = await _reported()
    recent = list(await g.db.scalars(select(Message).order_by(Message.id.desc()).limit(SHOWN)))
    members = list(await g.db.scalars(select(User).order_by(User.id.desc()).limit(SHOWN)))
    blocked = list(
        await g.db.scalars(
            select(User)
            .where(User.blocked_at.is_not(None))
            .order_by(User.blocked_at.desc())
            .limit(SHOWN)
        )
    )
    log, older = await audit.page(g.db, _log_cursor(), SHOWN)
    await db.release()
    return await render_template(
        "moderation/queue.html",
        reported=reported,
        recent=recent,
        members=members,
        blocked=blocked,
        log=log,
        older=older,
        audit_shown=audit.shown,
    )


def _log_cursor() -> int | None:
    """`?before=ID`: the audit log's entries older than that one."""
    before = request.args.get("before")
    if not before:
        return None
    if not before.isascii() or not before.isdigit() or int(before) > ID_MAX:
        raise BadCursor()
    return int(before)
