"""Keyset pagination of messages, newest first, with an opaque cursor.

OFFSET makes the database walk past every skipped row, so page 500 would cost 500
pages. A keyset page asks for rows *before* the last one shown, on the
`(created_at, id)` index: every page costs what the first one does. `id` breaks
ties between messages written in the same microsecond.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, Row, Select, bindparam, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from werkzeug.exceptions import BadRequest

from guestbook.lib.numbers import whole_number
from guestbook.models import ID_MAX, Message, User, UTCDateTime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
MICROS_MAX = (datetime.max.replace(tzinfo=UTC) - EPOCH) // MICROSECOND


class BadCursor(BadRequest):
    description = "That page link is broken or out of date. Start again from the first page."


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.created_at - EPOCH) // MICROSECOND  # exact, unlike float timestamps
        return base64.urlsafe_b64encode(f"{micros}.{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if len(text) > 64:
            raise BadCursor()
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
            micros_text, ident_text = raw.split(".")
            micros, ident = whole_number(micros_text, MICROS_MAX), whole_number(ident_text, ID_MAX)
            if micros is None or ident is None:
                raise BadCursor()
            created = EPOCH + micros * MICROSECOND
        except (ValueError, binascii.Error, OverflowError, OSError, UnicodeError):
            raise BadCursor() from None
        return cls(created, ident)


# What a message list shows, one joined row per message. Plain rows, not ORM
# entities: building entities (and their identity map) cost more than the query, and
# rows are hashable, so a page can key the rendered-list cache (`list_cache`).
LISTED = (
    Message.id,
    Message.body,
    Message.created_at,
    Message.updated_at,
    Message.writer_id,
    User.username.label("writer_name"),
    Message.hidden_at,  # set only on the writer's own profile: public lists select visible ones
    Message.parent_id,  # a reply's message
    Message.reply_count,
    Message.like_count,
)

# One message as a list shows it (the live script's fragment).
LISTED_ONE = select(*LISTED).join(Message.writer)

_PARENT = aliased(Message)
# A message, or a reply whose message everyone may see: a hidden message's replies
# leave the lists with it.
IN_VIEW = or_(
    Message.parent_id.is_(None),
    select(_PARENT.id).where(_PARENT.id == Message.parent_id, _PARENT.visible).exists(),
)


@dataclass(frozen=True)
class Page:
    messages: tuple[Row, ...]  # LISTED rows, newest first
    older: str | None  # cursor of the next (older) page, None on the last page

    @classmethod
    def of(cls, rows: Sequence[Row], size: int) -> Page:
        """The page from `keyset`'s rows: one more than fits means an older page."""
        if len(rows) <= size:
            return cls(tuple(rows), None)
        last = rows[size - 1]
        return cls(tuple(rows[:size]), Cursor(last.created_at, last.id).encode())


@functools.lru_cache(maxsize=32)
def keyset(query: Select, size: int, after_cursor: bool) -> Select:
    """`query` (a select of Message) as the LISTED rows of one page, plus one row that
    tells whether an older page exists; `after_cursor`: older than the cursor in the
    parameters from `cursor_params`. Made once per query object, so the main page's
    statement (and SQLAlchemy's cache key for it) is built once, not per request."""
    query = query.with_only_columns(*LISTED).join(Message.writer)
    if after_cursor:
        query = query.where(
            tuple_(Message.created_at, Message.id)
            < tuple_(
                bindparam("before_created_at", type_=UTCDateTime),
                bindparam("before_id", type_=Integer),
            )
        )
    return query.order_by(Message.created_at.desc(), Message.id.desc()).limit(size + 1)


def cursor_params(before: str | None) -> dict[str, object]:
    """The parameters of `keyset`'s statement for the `?before=` text (400 if forged)."""
    if not before:
        return {}
    cursor = Cursor.decode(before)
    return {"before_created_at": cursor.created_at, "before_id": cursor.id}


async def page_of(db: AsyncSession, query: Select, before: str | None, size: int) -> Page:
    """One page of `query` (a select of Message) older than cursor `before`."""
    params = cursor_params(before)
    statement = keyset(query, size, bool(params))
    # Plain rows, so Core on the session's connection: no ORM machinery per request.
    rows = (await (await db.connection()).execute(statement, params)).all()
    return Page.of(rows, size)
