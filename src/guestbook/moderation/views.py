"""The moderators' pages: hide, restore and delete any message, block and unblock
members, and the /moderation page (reports first, then recent messages and members,
blocked members, the audit log). Each reads its form whole, then calls `services`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

from quart import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, Forbidden

from guestbook import config
from guestbook.accounts.auth import login_required
from guestbook.forms import FieldError, check_reason, text
from guestbook.i18n import gettext
from guestbook.lib.numbers import whole_number
from guestbook.messages.pagination import BadCursor
from guestbook.models import ID_MAX
from guestbook.moderation import audit, services
from guestbook.web.urls import safe_next

bp = Blueprint("moderation", __name__)

P = ParamSpec("P")
T = TypeVar("T")


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


async def _said(decision: Decision, said: str):  # noqa: ANN202
    await flash(said)
    return redirect(decision.back)


@bp.post("/messages/<int:message_id>/hide")
@moderator_required
async def hide(message_id: int):
    decision = await _decision()
    await services.set_hidden(g.user, message_id, True, decision.reason)
    return await _said(decision, gettext("The message is hidden."))


@bp.post("/messages/<int:message_id>/unhide")
@moderator_required
async def unhide(message_id: int):
    """Show a hidden message again; showing a reported, visible one keeps it."""
    decision = await _decision()
    action = await services.set_hidden(g.user, message_id, False, decision.reason)
    if action == "keep":
        return await _said(decision, gettext("The message stays."))
    return await _said(decision, gettext("The message is shown again."))


@bp.post("/messages/<int:message_id>/remove")
@moderator_required
async def remove(message_id: int):
    decision = await _decision()
    await services.remove(g.user, message_id, decision.reason)
    return await _said(decision, gettext("The message is deleted."))


@bp.post("/users/<username>/block")
@moderator_required
async def block(username: str):
    decision = await _decision(box="hide_messages")
    user, blocked = await services.block(g.user, username, decision.reason, decision.checked)
    if not blocked:
        return await _said(decision, gettext("%(name)s was already blocked.", name=user.username))
    said = gettext("%(name)s is blocked and logged out everywhere.", name=user.username)
    return await _said(decision, said)


@bp.post("/users/<username>/unblock")
@moderator_required
async def unblock(username: str):
    decision = await _decision(box="restore_messages")
    user, unblocked = await services.unblock(g.user, username, decision.reason, decision.checked)
    if not unblocked:
        return await _said(decision, gettext("%(name)s is not blocked.", name=user.username))
    return await _said(decision, gettext("%(name)s may log in again.", name=user.username))


@bp.get("/moderation")
@moderator_required
async def queue():
    found = await services.queue(_log_cursor())
    return await render_template(
        "moderation/queue.html",
        reported=found.reported,
        recent=found.recent,
        members=found.members,
        blocked=found.blocked,
        log=found.log,
        older=found.older,
        audit_shown=audit.shown,
    )


def _log_cursor() -> int | None:
    """`?before=ID`: the audit log's entries older than that one."""
    before = request.args.get("before")
    if not before:
        return None
    entry = whole_number(before, ID_MAX)
    if entry is None:
        raise BadCursor()
    return entry
