"""Mail to a message's writer about its replies: never of their own, in their language,
at most one per message every `reply_mail_minutes`.

A reply notes, in its own transaction, that the message's mail is due: now if none
went out within the window, else when the window ends (`note`). The mail sender's loop
runs `queue_due` before each look at the outbox: every due message gets one mail
listing the replies since the last one, with a link to the message and a one-click
unsubscribe link. Taking a due row and queueing its mail is one transaction that
changes the row only while it is still as read, so of two workers exactly one mails.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from quart import Quart
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guestbook import config, db
from guestbook.accounts.services import unsubscribe_token
from guestbook.i18n import N_
from guestbook.mail import outbox, sender
from guestbook.models import Message, ReplyMail, User, utcnow
from guestbook.web.urls import external_url

BATCH = 100  # due messages queued per turn of the sender's loop


def _window() -> timedelta:
    return timedelta(minutes=config.current().reply_mail_minutes)


async def note(session: AsyncSession, message_id: int, reply_id: int, replier_id: int) -> None:
    """Reply `reply_id` to `message_id` by `replier_id`, in the reply's transaction: its
    writer's mail becomes due, unless they wrote the reply or want no reply mail. The
    first mail starts at this reply: earlier ones came while they wanted none."""
    writer = await session.scalar(
        select(User).join(Message, Message.writer_id == User.id).where(Message.id == message_id)
    )
    if writer is None or writer.id == replier_id or not writer.reply_mail:
        return
    await session.execute(
        db.insert_if_new(session, ReplyMail).values(
            message_id=message_id, mailed_through=reply_id - 1
        )
    )
    mailed_at = await session.scalar(
        select(ReplyMail.mailed_at).where(ReplyMail.message_id == message_id)
    )
    now = utcnow()
    due = now if mailed_at is None else max(now, mailed_at + _window())
    await session.execute(
        update(ReplyMail)
        .where(ReplyMail.message_id == message_id, ReplyMail.due_at.is_(None))
        .values(due_at=due)
    )
    if due == now:
        sender.wake_after_commit(session)  # the first reply's mail goes out at once


def producer(app: Quart):  # noqa: ANN201
    """The sender's producer for `app`: mail templates and links need its context."""

    async def produce(sessions: async_sessionmaker[AsyncSession]) -> None:
        async with app.app_context():
            await queue_due(sessions)

    return produce


async def queue_due(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with sessions() as session:
        due = (
            await session.execute(
                select(ReplyMail.message_id, ReplyMail.due_at)
                .where(ReplyMail.due_at <= now)
                .order_by(ReplyMail.due_at)
                .limit(BATCH)
            )
        ).all()
    for message_id, due_at in due:
        async with sessions() as session:
            await _queue_one(session, message_id, due_at)


async def _queue_one(session: AsyncSession, message_id: int, due_at: datetime) -> None:
    """Queue the mail of one due message (or none: the replies went, the writer is
    blocked or switched it off), and mark it mailed, if no one did meanwhile."""
    state = await session.get(ReplyMail, message_id)
    message = await session.get(Message, message_id)
    if state is None or message is None:
        return  # deleted meanwhile, with its row
    writer = message.writer
    replies = (
        await session.execute(
            select(Message.id, Message.body, Message.created_at, User.username)
            .join(User, Message.writer_id == User.id)
            .where(
                Message.parent_id == message_id,
                Message.id > state.mailed_through,
                Message.visible,
                Message.writer_id != writer.id,
            )
            .order_by(Message.id)
        )
    ).all()
    # Replies not mailed now never will be: switching reply mail on again starts afresh.
    done: dict[str, object] = {"due_at": None}
    if replies:
        done["mailed_through"] = replies[-1].id
    if replies and message.visible and writer.reply_mail and writer.blocked_at is None:
        done["mailed_at"] = utcnow()
        await outbox.queue(
            session,
            to=writer,
            subject=N_("New replies to your message"),
            template="replies",
            unsubscribe_url=external_url(
                "unsubscribe.unsubscribe", token=unsubscribe_token(writer)
            ),
            message=message,
            replies=replies,
            message_url=external_url("thread.page", message_id=message_id),
            account_url=external_url("account.settings"),
        )
    taken = await session.execute(
        update(ReplyMail)
        .where(ReplyMail.message_id == message_id, ReplyMail.due_at == due_at)
        .values(done)
    )
    if taken.rowcount != 1:
        await session.rollback()  # another worker took it first
        return
    await session.commit()
