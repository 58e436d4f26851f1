"""The moderation audit log: one row per moderator action, written in the action's own
transaction, so an action and its record commit together or not at all.

Nothing in the app deletes a row, and the one update is `pseudonymize`: a member who
deleted their account keeps their place in the history under a pseudonym. Triggers in
the database refuse any other change (`db.triggers.moderation_ddl`), whoever asks.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import case, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from guestbook.db.triggers import PSEUDONYM_HEX
from guestbook.i18n import N_, gettext
from guestbook.models import AuditEntry, Message, User
from guestbook.web.filters import excerpt

log = logging.getLogger(__name__)
BY_REPORTS = "(reports)"  # the actor when members' reports hid a message
COMMAND_LINE = "(command line)"  # the actor of `guestbook promote`, `demote`, `delete-user`
DELETE_ACCOUNT = "delete-account"

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
    DELETE_ACCOUNT: N_("Account deleted"),
}
ACTORS = {BY_REPORTS: N_("(reports)"), COMMAND_LINE: N_("(command line)")}
DELETED = "(deleted "  # a deleted member's pseudonym: "(deleted 3f9a0c1d2b7e)"


def shown(entry: AuditEntry) -> tuple[str, str]:
    """The entry's actor and action as the page says them (a member's name as it is, a
    deleted member's pseudonym in the reader's language)."""
    actor, action = ACTORS.get(entry.actor), ACTIONS.get(entry.action)
    if actor is not None:
        actor = gettext(actor)
    elif entry.actor_id is None and entry.actor.startswith(DELETED):
        actor = gettext("(deleted %(tag)s)", tag=entry.actor.removeprefix(DELETED).rstrip(")"))
    return actor or entry.actor, gettext(action) if action else entry.action


def _member(name: str) -> str:
    """The target of an entry about a member."""
    return f"member {name}"


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
        target = _member(user.username)
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


async def pseudonymize(session: AsyncSession, user: User) -> None:
    """In the transaction that deleted `user`, after their row went (the database lets
    only a departed member's entries change): every entry keeps its place in the history,
    with the member's id dropped and their name replaced by one pseudonym,
    "(deleted 3f9a0c1d2b7e)", as actor and as the member an entry is about. An entry
    about one of their messages keeps the message's start, as a moderator's decision
    needs it; a reason a moderator typed is kept as written.

    The pseudonym is random, drawn once per deleted member, not a keyed hash of the id:
    SQLite gives a deleted member's id to the next signup, so a hash of it would give two
    people one pseudonym; and a hash could be computed again by anyone holding the secret
    key and an old copy of `users`, naming the member. What makes it stable is that it is
    written once, to every entry of theirs, in one transaction: nothing can name them later.
    48 random bits: two of a site's deleted members share one about never."""
    alias = f"{DELETED}{secrets.token_hex(PSEUDONYM_HEX // 2)})"
    unsynced = {"synchronize_session": False}
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.actor_id == user.id)
        .values(actor_id=None, actor=alias)
        .execution_options(**unsynced)
    )
    about_them = case((AuditEntry.message_id.is_(None), _member(alias)), else_=AuditEntry.target)
    await session.execute(
        update(AuditEntry)
        .where(AuditEntry.user_id == user.id)
        .values(user_id=None, target=about_them)
        .execution_options(**unsynced)
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
