"""The moderation audit log: one row per moderator action, written in the action's own
transaction, so an action and its record commit together or not at all.

Nothing in the app updates or deletes a row; triggers in the database refuse it
(`db.triggers.moderation_ddl`), so neither can psql by accident.
"""

from __future__ import annotations

import logging

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from guestbook.i18n import N_, gettext
from guestbook.models import AuditEntry, Message, User
from guestbook.web.filters import excerpt

log = logging.getLogger(__name__)
BY_REPORTS = "(reports)"  # the actor when members' reports hid a message
COMMAND_LINE = "(command line)"  # the actor of `guestbook promote` and `demote`

# The rows keep these codes; the moderation page says them in the reader's language.
ACTIONS = {
    "hide": N_("Hidden"),
    "unhide": N_("Shown again"),
    "keep": N_("Kept"),
    "delete": N_("Deleted"),
    "block": N_("Blocked"),
    "block+hide": N_("Blocked, messages hidden"),
    "unblock": N_("Unblocked"),
    "unblock+restore": N_("Unblocked, messages shown again"),
    "promote": N_("Made a moderator"),
    "demote": N_("Made a member"),
}
ACTORS = {BY_REPORTS: N_("(reports)"), COMMAND_LINE: N_("(command line)")}


def shown(entry: AuditEntry) -> tuple[str, str]:
    """The entry's actor and action as the page says them (a member's name as it is)."""
    actor, action = ACTORS.get(entry.actor), ACTIONS.get(entry.action)
    return (
        gettext(actor) if actor else entry.actor,
        gettext(action) if action else entry.action,
    )


def record(
    session: AsyncSession,
    actor: User | str,
    action: str,
    *,
    message: Message | None = None,
    user: User | None = None,
    reason: str = "",
) -> None:
    """Add the entry to `session`; the caller's commit writes it with the action."""
    if message is not None:
        target = f"message {message.id}: {excerpt(message.body)}"
    elif user is not None:
        target = f"member {user.username}"
    else:
        raise ValueError("an audit entry names a message or a member")
    entry = AuditEntry(
        actor_id=actor.id if isinstance(actor, User) else None,
        actor=actor.username if isinstance(actor, User) else actor,
        action=action,
        message_id=message.id if message is not None else None,
        user_id=user.id if user is not None else message.writer_id,  # type: ignore[union-attr]
        target=target,
        reason=reason,
    )
    session.add(entry)
    # Logged once it is done: an action that rolls back did not happen.
    event.listen(session.sync_session, "after_commit", lambda _: _logged(entry), once=True)


def _logged(entry: AuditEntry) -> None:
    log.info(
        "moderation: %s %s by %s",
        entry.action,
        entry.target,
        entry.actor,
        extra={
            "event": "moderation",
            "action": entry.action,
            "actor_id": entry.actor_id,
            "message_id": entry.message_id,
            "user_id": entry.user_id,
        },
    )


async def page(
    session: AsyncSession, before: int | None, limit: int
) -> tuple[list[AuditEntry], int | None]:
    """`limit` entries, newest first, older than entry `before` if given; and the id to
    ask for the next older page with (None on the last page)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    entries = list(await session.scalars(query))
    return entries[:limit], entries[limit - 1].id if len(entries) > limit else None
