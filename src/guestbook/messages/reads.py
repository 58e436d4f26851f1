"""What the message lists read: the main page, a profile, a message with its replies,
a feed. Each is kept per worker under the content version (`cache.versions.read`), so
plain values, not ORM objects tied to one request's session. Hidden messages are left
out of every one, but for their writer on their own profile (marked so); so are the
replies to a hidden message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quart import g
from sqlalchemy import Row, func, select

from guestbook import config, db
from guestbook.accounts.services import NoSuchMember, named, username_key
from guestbook.cache import versions
from guestbook.messages import pagination
from guestbook.messages.services import NoSuchMessage
from guestbook.models import Like, Message, User

# The main page's and the site feed's messages, replies left to their message's page:
# one object, so its page query is built once.
NEWEST = select(Message).where(Message.visible, Message.parent_id.is_(None))
FEED_ENTRIES = 20


async def newest(before: str | None) -> pagination.Page:
    """A page of the main page's list, older than cursor `before` (400 if forged)."""
    size = config.current().page_size
    page = await versions.read(
        ("index", before, size), lambda: pagination.page_of(g.db, NEWEST, before, size)
    )
    await db.release()
    return page


@dataclass(frozen=True)
class Profile:
    username: str
    created_at: datetime
    count: int
    page: pagination.Page
    blocked: bool
    moderator: bool

    @classmethod
    def of(cls, user: User, count: int, page: pagination.Page) -> Profile:
        blocked = user.blocked_at is not None
        return cls(user.username, user.created_at, count, page, blocked, user.is_moderator)


def member_key(username: str) -> str:
    """The key a member's pages are kept under: any spelling of a name ("KATE",
    "\u212aate") is one entry. A name no account can have is not looked up
    (PostgreSQL refuses some, NUL, outright): 404."""
    key = username_key(username)
    if key is None:
        raise NoSuchMember(username)
    return key


async def profile(username: str, before: str | None, viewer: User | None) -> Profile:
    """The member `username` and a page of what they wrote (404 if there is none)."""
    key = member_key(username)
    size = config.current().page_size
    own = viewer is not None and viewer.username_key == key
    # A new member's page is not kept until it exists: a miss (404) is never kept.
    found = await versions.read(
        ("profile", key, before, size, own), lambda: _read_profile(username, before, size, own)
    )
    await db.release()
    return found


async def _read_profile(username: str, before: str | None, size: int, own: bool) -> Profile:
    user = await named(username)
    # Flask: `user.messages.order_by(...)` on a dynamic relationship. Async: the
    # write-only collection hands back a select to run, never an implicit load.
    messages = user.messages.select().where(pagination.IN_VIEW)
    if not own:  # the writer alone sees their hidden messages (marked so)
        messages = messages.where(Message.visible)
    count = await g.db.scalar(select(func.count()).select_from(messages.subquery()))
    page = await pagination.page_of(g.db, messages, before, size)
    return Profile.of(user, count, page)


@dataclass(frozen=True)
class Feed:
    username: str | None  # None: the whole guestbook
    user_id: int | None
    since: datetime  # the member's signup, or the epoch (a feed with nothing in it)
    page: pagination.Page


async def feed(username: str | None) -> Feed:
    """The newest visible messages of the guestbook, or of the member `username`."""
    key = None if username is None else member_key(username)
    found = await versions.read(("feed", key), lambda: _read_feed(username))
    await db.release()
    return found


async def _read_feed(username: str | None) -> Feed:
    if username is None:
        page = await pagination.page_of(g.db, NEWEST, None, FEED_ENTRIES)
        return Feed(None, None, pagination.EPOCH, page)
    user = await named(username)
    messages = user.messages.select().where(Message.visible, pagination.IN_VIEW)
    page = await pagination.page_of(g.db, messages, None, FEED_ENTRIES)
    return Feed(user.username, user.id, user.created_at, page)


@dataclass(frozen=True)
class Thread:
    message: Row  # LISTED, as a list shows it
    replies: tuple[Row, ...]  # oldest first


async def thread(message_id: int) -> Thread:
    """Message `message_id` with its visible replies, oldest first; for a reply, its
    message's thread. 404 if hidden or gone."""
    found = await versions.read(("thread", message_id), lambda: _read_thread(message_id))
    await db.release()
    return found


async def _read_thread(message_id: int) -> Thread:
    connection = await g.db.connection()
    one = pagination.LISTED_ONE.where(Message.visible)
    message = (await connection.execute(one.where(Message.id == message_id))).one_or_none()
    if message is not None and message.parent_id is not None:
        message = (
            await connection.execute(one.where(Message.id == message.parent_id))
        ).one_or_none()
    if message is None:
        raise NoSuchMessage()
    replies = await connection.execute(
        one.where(Message.parent_id == message.id).order_by(Message.created_at, Message.id)
    )
    return Thread(message, tuple(replies))


async def liked(viewer: User, rows: tuple[Row, ...]) -> frozenset[int]:
    """Which of the listed messages `viewer` likes (a like changes the content version).
    Only messages whose row counts a like are asked about: the count is kept by
    triggers in the like's own transaction, so 0 is nobody's like, and a list of
    messages nobody likes (new ones, say) asks the database nothing."""
    ids = tuple(row.id for row in rows if row.like_count)
    if not ids:
        return frozenset()
    found = await versions.read(("liked", viewer.id, ids), lambda: _read_liked(viewer.id, ids))
    await db.release()
    return found


async def _read_liked(viewer_id: int, ids: tuple[int, ...]) -> frozenset[int]:
    mine = select(Like.message_id).where(Like.user_id == viewer_id, Like.message_id.in_(ids))
    return frozenset(await g.db.scalars(mine))
