"""A member deletes their own account (`POST /account/delete`): what is theirs goes, in
one transaction, and their name is held back for a while (`quarantine`).

What goes: their messages and replies, each as a message's own delete takes it (one
statement; the database's cascades take the replies under it, the likes and reports on
it and its reply-mail row, as they do for `messages.services.delete_row`); their likes
of others' messages; their reports; their API tokens and every login; every mail to
their address; then their row. The triggers do the rest, whoever deletes: each message
gone is a live "deleted" event for open pages, each count that falls (a reply, a like)
an "edited" one, and the content and logins versions move, so no worker keeps a page,
a login or a token of theirs.

What stays: the moderators' audit log, which outlives members by design. Features above
this one take part through the steps `create_app` hands `init_app`, run in the same
transaction once the member's row is gone: moderation's audit log keeps the member's
entries under a pseudonym (`moderation.audit.pseudonymize`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from quart import Quart, current_app, g
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from guestbook.accounts import api_tokens, quarantine
from guestbook.mail import outbox
from guestbook.models import Like, LoginSession, Message, Report, User

Step = Callable[[AsyncSession, User], Awaitable[None]]
_EXT = "guestbook.accounts.deletion"


def init_app(app: Quart, after: Sequence[Step] = ()) -> None:
    """`after`: what other features do in a deletion's transaction once the row is gone."""
    app.extensions[_EXT] = tuple(after)


async def delete_account(user: User) -> None:
    """Delete `user` and what is theirs, and commit. `user` may be a worker's kept copy
    (`g.user`): only its plain values are read."""
    session = g.db
    await session.execute(delete(Message).where(Message.writer_id == user.id))
    await session.execute(delete(Like).where(Like.user_id == user.id))
    await session.execute(delete(Report).where(Report.reporter_id == user.id))
    await api_tokens.delete_all(user)
    await session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    await outbox.forget(session, user.email)
    # Messages a moderator hid keep hidden_at; hidden_by goes to NULL (its foreign key).
    await session.execute(delete(User).where(User.id == user.id))
    for step in current_app.extensions.get(_EXT, ()):
        await step(session, user)
    await quarantine.release(session, user)
    await session.commit()
