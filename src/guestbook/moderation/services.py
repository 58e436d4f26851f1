"""What moderators and members do about messages and members, for the pages and the
command line alike: hide, show and delete a message, block and unblock a member,
report a message, change a role, and what the moderation page reads. Every action
adds its audit entry to its own transaction (`audit.record`), so the two commit
together or not at all.

Hiding keeps the row and takes it out of every public list, profile, count and feed
(they all select `Message.visible`); the content-version triggers fire on the update,
so no cached page keeps showing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from quart import g
from sqlalchemy import ColumnElement, and_, func, select, true, update
from werkzeug.exceptions import Forbidden

from guestbook import config, db
from guestbook.accounts import api_tokens, deletion, login_sessions
from guestbook.accounts.services import named
from guestbook.i18n import gettext
from guestbook.messages.services import NoSuchMessage, delete_row
from guestbook.models import MODERATOR, Message, Report, User, utcnow
from guestbook.moderation import audit

SHOWN = 50  # rows per section of the moderation page


async def _message(message_id: int, lock: bool = False) -> Message:
    """`lock`: hold its row until commit, so reports on one message count one after
    another (PostgreSQL; SQLite's one connection already does)."""
    query = select(Message).where(Message.id == message_id)
    if lock:
        query = query.with_for_update(of=Message)
    message = await g.db.scalar(query)
    if message is None:
        raise NoSuchMessage()
    return message


async def _close_reports(message_id: int) -> None:
    """A moderator has decided: the open reports are answered."""
    await g.db.execute(
        update(Report)
        .where(Report.message_id == message_id, Report.resolved_at.is_(None))
        .values(resolved_at=utcnow())
    )


async def set_hidden(moderator: User, message_id: int, hidden: bool, reason: str) -> str:
    """Hide or show a message; returns the audit action: "hide", "unhide", or "keep"
    (shown already). Either way its open reports are answered, so only new ones count
    towards hiding it again."""
    message = await _message(message_id)
    if hidden:
        action = "hide"
        values = {"hidden_at": message.hidden_at or utcnow(), "hidden_by": moderator.id}
    else:
        action = "unhide" if message.hidden_at else "keep"
        values = {"hidden_at": None, "hidden_by": None}
    # A statement, not the ORM's flush: a delete committed meanwhile leaves no row to
    # match, a 404 here, where the flush would raise StaleDataError (a 500).
    changed = await g.db.execute(update(Message).where(Message.id == message.id).values(values))
    if changed.rowcount != 1:
        await g.db.rollback()
        raise NoSuchMessage()
    await _close_reports(message.id)
    audit.record(g.db, moderator, action, message=message, reason=reason)
    await g.db.commit()
    return action


async def remove(moderator: User, message_id: int, reason: str) -> None:
    """A moderator's Delete: the row goes (its reports with it); the log keeps its start."""
    message = await _message(message_id)
    audit.record(g.db, moderator, "delete", message=message, reason=reason)
    await delete_row(message)  # commits the audit entry with it


async def block(
    moderator: User, username: str, reason: str, hide_messages: bool
) -> tuple[User, bool]:
    """Block the member and end every login and API token of theirs; the member, and False if they
    were blocked already. With `hide_messages`, their visible messages are hidden too."""
    user = await named(username)
    if user.id == moderator.id:
        raise Forbidden(gettext("You cannot block yourself."))
    if user.is_moderator:
        raise Forbidden(
            gettext("Moderators cannot be blocked. Demote them first (guestbook demote).")
        )
    if user.blocked_at is not None:
        return user, False
    now = utcnow()
    user.blocked_at = now
    if hide_messages:
        # The block's own time marks these, so unblocking can restore exactly them.
        await g.db.execute(
            update(Message)
            .where(Message.writer_id == user.id, Message.visible)
            .values(hidden_at=now, hidden_by=moderator.id)
        )
    action = "block+hide" if hide_messages else "block"
    audit.record(g.db, moderator, action, user=user, reason=reason)
    await api_tokens.delete_all(user)
    await login_sessions.revoke_all(user)  # commits the block with it
    return user, True


async def unblock(
    moderator: User, username: str, reason: str, restore_messages: bool
) -> tuple[User, bool]:
    """Let the member log in again; the member, and False if they were not blocked.
    With `restore_messages`, what the block hid is shown again."""
    user = await named(username)
    if user.blocked_at is None:
        return user, False
    if restore_messages:
        await g.db.execute(
            update(Message)
            .where(Message.writer_id == user.id, Message.hidden_at == user.blocked_at)
            .values(hidden_at=None, hidden_by=None)
        )
    user.blocked_at = None
    action = "unblock+restore" if restore_messages else "unblock"
    audit.record(g.db, moderator, action, user=user, reason=reason)
    await g.db.commit()
    return user, True


async def reportable(member: User, message_id: int, lock: bool = False) -> Message:
    """The message, if `member` may report it: visible, and not their own."""
    message = await _message(message_id, lock=lock)
    if not message.visible:
        raise NoSuchMessage()
    if message.writer_id == member.id:
        raise Forbidden(gettext("You cannot report your own message."))
    return message


async def report(member: User, message_id: int, reason: str) -> bool:
    """File the member's report; False if they reported this message before. When
    GUESTBOOK_REPORT_HIDE_THRESHOLD members of standing have open reports on it, it is
    hidden until a moderator decides."""
    message = await reportable(member, message_id, lock=True)
    mine = select(Report.id).where(Report.message_id == message.id, Report.reporter_id == member.id)
    if await g.db.scalar(mine) is not None:
        await db.release()
        return False
    g.db.add(Report(message_id=message.id, reporter_id=member.id, reason=reason))
    await g.db.flush()
    await _hide_if_reported_enough(message)
    await g.db.commit()
    return True


def of_standing() -> ColumnElement[bool]:
    """Whether a reporter (`User`) counts towards hiding: old enough, and with a visible
    message of their own, so that a handful of throw-away accounts hides nothing."""
    hours = config.current().reporter_min_hours
    if not hours:
        return true()
    wrote = select(Message.id).where(Message.writer_id == User.id, Message.visible).exists()
    return and_(User.created_at <= utcnow() - timedelta(hours=hours), wrote)


async def _hide_if_reported_enough(message: Message) -> None:
    """Hidden once enough members of standing report it; never a moderator's message."""
    threshold = config.current().report_hide_threshold
    if not threshold or message.writer.is_moderator:
        return
    count = await g.db.scalar(
        select(func.count())
        .select_from(Report)
        .join(User, User.id == Report.reporter_id)
        .where(Report.message_id == message.id, Report.resolved_at.is_(None), of_standing())
    )
    if count >= threshold:
        message.hidden_at = utcnow()
        message.hidden_by = None
        audit.record(
            g.db, audit.BY_REPORTS, "hide", message=message, reason=f"{count} members reported it"
        )


async def set_role(user: User, role: str, actor: User | str = audit.COMMAND_LINE) -> bool:
    """Make `user` a moderator or a member again; False if they already were."""
    if user.role == role:
        return False
    user.role = role
    audit.record(g.db, actor, "promote" if role == MODERATOR else "demote", user=user)
    await g.db.commit()
    return True


async def delete_account(user: User, actor: User | str = audit.COMMAND_LINE) -> None:
    """Delete `user`'s account for them, as their own deletion does
    (`accounts.deletion`); the audit log's entry of it names them by their pseudonym,
    as every entry about them then does."""
    audit.record(g.db, actor, audit.DELETE_ACCOUNT, user=user)
    await deletion.delete_account(user)  # commits the entry with the deletion


@dataclass(frozen=True)
class Reported:
    message: Message
    reports: list[tuple[str, str, bool]]  # (reporter, reason, of standing) of each open one


@dataclass(frozen=True)
class Queue:
    """What the moderation page shows."""

    reported: list[Reported]
    recent: list[Message]
    members: list[User]
    blocked: list[User]
    log: list
    older: int | None  # the audit log's next page starts before this entry


async def queue(log_before: int | None) -> Queue:
    recent = select(Message).order_by(Message.id.desc()).limit(SHOWN)
    members = select(User).order_by(User.id.desc()).limit(SHOWN)
    blocked = (
        select(User)
        .where(User.blocked_at.is_not(None))
        .order_by(User.blocked_at.desc())
        .limit(SHOWN)
    )
    reported = await _reported()
    recent_rows, member_rows, blocked_rows = [
        list(await g.db.scalars(query)) for query in (recent, members, blocked)
    ]
    log, older = await audit.page(g.db, log_before, SHOWN)
    await db.release()
    return Queue(reported, recent_rows, member_rows, blocked_rows, log, older)


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
    reasons: dict[int, list[tuple[str, str, bool]]] = {m.id: [] for m in messages}
    rows = await g.db.execute(
        select(Report.message_id, User.username, Report.reason, of_standing())
        .join(User, User.id == Report.reporter_id)
        .where(Report.message_id.in_(reasons), Report.resolved_at.is_(None))
        .order_by(Report.id)
    )
    for message_id, reporter, reason, standing in rows:
        reasons[message_id].append((reporter, reason, bool(standing)))
    return [Reported(m, reasons[m.id]) for m in messages]
