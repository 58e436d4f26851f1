"""What the site does with messages, for the pages and any other front alike: post,
reply, like, edit, delete, and one message as a list shows it. Plain values in and out; a refusal
is a domain error (`FieldError` for the text, or one of the errors below, each an
HTTP error too, so a page shows it with its status).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from quart import Quart, current_app, g
from sqlalchemy import Row, or_, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Forbidden, NotFound

from guestbook import db
from guestbook.db.group_commit import GroupCommit, was_not_written
from guestbook.forms import check_body
from guestbook.i18n import gettext
from guestbook.limits import ratelimit, spam
from guestbook.messages import formatting, pagination, reply_mail
from guestbook.models import Like, Message, Report, User, utcnow

_EXT = "guestbook.messages.writes"


class NoSuchMessage(NotFound):
    def __init__(self) -> None:
        super().__init__(gettext("There is no such message."))


class NotYours(Forbidden):
    def __init__(self) -> None:
        super().__init__(gettext("You can only change your own messages."))


class HiddenMessage(Forbidden):
    def __init__(self) -> None:
        super().__init__(gettext("A moderator has hidden this message: it cannot be edited."))


def new_messages(app: Quart) -> GroupCommit:
    """The app's group commit of new messages, made on first use."""
    group = app.extensions.get(_EXT)
    if group is None:
        # A batch's rows told apart by who wrote what when (to the microsecond).
        key = ("writer_id", "created_at", "body")
        group = app.extensions[_EXT] = GroupCommit.inserting(app, Message, key)
    return group


@dataclass(frozen=True)
class Posted:
    """A new message as it was committed (no reply, no like yet)."""

    id: int
    body: str
    created_at: datetime


async def post(writer: User, body: str) -> Posted:
    """Write `body` as `writer`'s; returns it once it is committed. Raises `FieldError`
    (the text's rules, the spam rules) or `TooManyRequests` (the post limit)."""
    body = check_body(body)
    # No member floods the book: past `post_limit` messages in a window, the next waits.
    slot = ratelimit.limits()["post_account"], f"id:{writer.id}"
    await ratelimit.hit(*slot)
    await spam.check_message(writer, body, formatting.links(body))
    # Written with the posts of other requests under way, in one commit (group_commit);
    # first this request gives back its connection (SQLite has just one).
    await db.release()
    row = {"body": body, "writer_id": writer.id, "parent_id": None, "created_at": utcnow()}
    try:
        message_id = await new_messages(current_app._get_current_object()).insert(row)
    except Exception as err:
        if was_not_written(err):  # a refusal counts only writes that may have committed
            await ratelimit.give_back(*slot)
            await spam.forget_message(writer, body)
        raise
    return Posted(message_id, body, row["created_at"])


async def shown(message_id: int) -> Message:
    """Message `message_id` if everyone may see it: visible, and a reply's message too."""
    message = await g.db.get(Message, message_id)
    if message is None or not message.visible:
        raise NoSuchMessage()
    if message.parent_id is not None:
        parent = await g.db.get(Message, message.parent_id)
        if parent is None or not parent.visible:
            raise NoSuchMessage()
    return message


def mention(name: str, body: str) -> str:
    """A reply to a reply answers its message, starting with `@name`."""
    tag = f"@{name}"
    return body if body.startswith(tag) else f"{tag} {body.lstrip()}"


async def reply(writer: User, message_id: int, body: str) -> tuple[int, int]:
    """Answer message `message_id` as `writer`, with a message's rules and limits.
    Replies are one level deep: answering a reply answers its message. Returns the
    message's id and the reply's. Raises as `post`, or `NoSuchMessage`."""
    target = await shown(message_id)
    parent_id = target.parent_id or target.id
    if target.parent_id is not None:
        body = mention(target.writer.username, body)
    body = check_body(body)
    await db.release()  # no connection held while the limits' store answers
    slot = ratelimit.limits()["post_account"], f"id:{writer.id}"
    await ratelimit.hit(*slot)
    await spam.check_message(writer, body, formatting.links(body))
    # Its own transaction, not the group commit: the reply mail is noted in it.
    reply = Message(body=body, writer_id=writer.id, parent_id=parent_id, created_at=utcnow())
    g.db.add(reply)
    try:
        await g.db.flush()
    except IntegrityError:  # the message was deleted meanwhile: nothing written
        await g.db.rollback()
        await ratelimit.give_back(*slot)
        await spam.forget_message(writer, body)
        raise NoSuchMessage() from None
    reply_id = reply.id
    await reply_mail.note(g.db, parent_id, reply_id, writer.id)
    await g.db.commit()
    return parent_id, reply_id


async def like(member: User, message_id: int, liked: bool | None = None) -> tuple[bool, int]:
    """The member likes message `message_id` (`liked` True), stops liking it (False), or
    toggles (None). One like per member and message, however many requests race (the
    table's key). Returns whether they like it now, and its count. A like writes no
    text: it takes no post slot, but has a limit of its own."""
    await shown(message_id)
    await db.release()  # as in `reply`
    await ratelimit.hit(ratelimit.limits()["like_account"], f"id:{member.id}")
    mine = (Like.message_id == message_id, Like.user_id == member.id)
    if liked is None:
        liked = await g.db.scalar(sa.select(Like.user_id).where(*mine)) is None
    if liked:
        new = db.insert_if_new(g.db, Like).values(
            message_id=message_id, user_id=member.id, created_at=utcnow()
        )
        try:
            await g.db.execute(new)
        except IntegrityError:  # the message was deleted meanwhile
            await g.db.rollback()
            raise NoSuchMessage() from None
    else:
        await g.db.execute(sa.delete(Like).where(*mine))
    count = await g.db.scalar(sa.select(Message.like_count).where(Message.id == message_id))
    await g.db.commit()
    return liked, count or 0


async def own(member: User, message_id: int) -> Message:
    """The member's own message `message_id`: 404 if there is none, 403 if not theirs."""
    message = await g.db.get(Message, message_id)
    if message is None:
        raise NoSuchMessage()
    if message.writer_id != member.id:
        raise NotYours()
    return message


async def editable(member: User, message_id: int) -> Message:
    """The member's own message, if they may edit it: not while a moderator hides it."""
    message = await own(member, message_id)
    if not message.visible:
        raise HiddenMessage()
    return message


async def edit(member: User, message_id: int, body: str) -> int | None:
    """Change the member's own message to `body`, and return a reply's message (None
    for a message); raises as `own`, `FieldError`, `HiddenMessage`, or
    `TooManyRequests` past the member's edit limit. An edit after a moderator's
    decision reopens reporting: those who reported the old text may report the new one."""
    message = await editable(member, message_id)
    parent_id = message.parent_id
    body = check_body(body)
    spam.check_links(member, formatting.links(body))
    if body == message.body:
        return parent_id
    await db.release()  # as in `reply`
    await ratelimit.hit(ratelimit.limits()["edit_account"], f"id:{member.id}")
    # A statement, not the ORM's flush, and only while the message is still visible: a
    # delete or a hide committed meanwhile leaves no row to match (a 404 or a 403 here,
    # where the flush would raise StaleDataError, a 500, or change a hidden message).
    changed = await g.db.execute(
        update(Message)
        .where(Message.id == message.id, Message.visible)
        .values(body=body, updated_at=utcnow())
    )
    if changed.rowcount != 1:
        await g.db.rollback()  # which expires `message`: only plain values from here on
        still_there = await g.db.scalar(sa.select(Message.id).where(Message.id == message_id))
        raise NoSuchMessage() if still_there is None else HiddenMessage()
    await g.db.execute(
        sa.delete(Report).where(Report.message_id == message.id, Report.resolved_at.is_not(None))
    )
    await g.db.commit()
    return parent_id


async def delete(member: User, message_id: int) -> None:
    await delete_row(await own(member, message_id))


async def delete_row(message: Message) -> None:
    """Delete `message` with what was added to the session for it (its reports go by
    the database's cascade). A statement whose matched rows are counted: a delete
    committed meanwhile is a 404, not the ORM's warning over a commit of nothing."""
    deleted = await g.db.execute(sa.delete(Message).where(Message.id == message.id))
    if deleted.rowcount != 1:
        await g.db.rollback()
        raise NoSuchMessage()
    await g.db.commit()


async def listed(message_id: int, viewer: User | None, own_hidden: bool = False) -> Row:
    """Message `message_id` as a list shows it, if `viewer` may see it there: visible,
    or (`own_hidden`, their own profile) hidden but written by `viewer`."""
    statement = pagination.LISTED_ONE.where(Message.id == message_id, pagination.IN_VIEW)
    if own_hidden and viewer is not None:
        statement = statement.where(or_(Message.visible, Message.writer_id == viewer.id))
    else:
        statement = statement.where(Message.visible)
    row = (await (await g.db.connection()).execute(statement)).one_or_none()
    if row is None:
        raise NoSuchMessage()
    await db.release()
    return row
