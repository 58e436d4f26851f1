"""Keyset pagination of messages, newest first, with an opaque cursor.

OFFSET makes the database walk past every skipped row, so page 500 would cost 500
pages. A keyset page asks for rows *before* the last one shown, on the
`(created_at, id)` index: every page costs what the first one does. `id` breaks
ties between messages written in the same microsecond.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.exceptions import BadRequest

from .models import Message, UTCDateTime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


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
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            micros, ident = (int(part) for part in raw.split("."))
            created = EPOCH + micros * MICROSECOND
        except (ValueError, binascii.Error, OverflowError, OSError, UnicodeError):
            raise BadCursor() from None
        if ident < 0 or len(text) > 64:
            raise BadCursor()
        return cls(created, ident)


@dataclass(frozen=True)
class Page:
    messages: list[Message]
    older: str | None  # cursor of the next (older) page, None on the last page


async def page_of(db: AsyncSession, query: Select, before: str | None, size: int) -> Page:
    """One page of `query` (a select of Message) older than cursor `before`."""
    if before:
        cursor = Cursor.decode(before)
        query = query.where(
            tuple_(Message.created_at, Message.id)
            < tuple_(literal(cursor.created_at, UTCDateTime), literal(cursor.id))
        )
    query = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(size + 1)
    rows = list((await db.execute(query)).scalars())
    if len(rows) <= size:
        return Page(rows, None)
    last = rows[size - 1]
    return Page(rows[:size], Cursor(last.created_at, last.id).encode())
