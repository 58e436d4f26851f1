"""What the API takes and gives, as pydantic types: requests are validated by them
and answers built from them, and the OpenAPI document is generated from the same
types (quart-schema), so the three cannot drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from guestbook.models import BODY_MAX, ID_MAX


class Strict(BaseModel):
    # A field the API does not know is refused, by name: `writer_id` in a body is a
    # mistake worth hearing about, never read.
    model_config = ConfigDict(extra="forbid")


class NewMessage(Strict):
    """A message or a reply to write, or a message's new text."""

    body: str = Field(min_length=1, max_length=BODY_MAX, description="The text, as typed.")


class CursorQuery(Strict):
    cursor: str | None = Field(
        default=None,
        max_length=64,
        description="The `next_cursor` of the page before: older messages than it showed.",
    )


class Message(BaseModel):
    """A message, or a reply (`parent_id` is then its message), as the lists show it."""

    id: int = Field(ge=1, le=ID_MAX)
    body: str
    writer: str
    created_at: datetime
    updated_at: datetime | None
    parent_id: int | None
    reply_count: int
    like_count: int

    @classmethod
    def of(cls, row: Row) -> Message:
        """From a `pagination.LISTED` row."""
        return cls(
            id=row.id,
            body=row.body,
            writer=row.writer_name,
            created_at=row.created_at,
            updated_at=row.updated_at,
            parent_id=row.parent_id,
            reply_count=row.reply_count,
            like_count=row.like_count,
        )


class MessagePage(BaseModel):
    """Newest first; `next_cursor` (also in the `Link: rel="next"` header) asks for the
    older page, and is null on the last one."""

    messages: list[Message]
    next_cursor: str | None


class Thread(Message):
    """A message with its visible replies, oldest first (none for a reply)."""

    replies: list[Message]


class Member(BaseModel):
    """A member's profile, as their page shows it."""

    username: str
    created_at: datetime
    message_count: int
    moderator: bool
    blocked: bool


class Me(BaseModel):
    """The member the token belongs to, and what the token may do."""

    username: str
    email: str
    created_at: datetime
    moderator: bool
    scope: Literal["read", "write"]


class LikeState(BaseModel):
    """Whether the token's member likes the message now, and its count."""

    liked: bool
    like_count: int


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (`application/problem+json`), in the
    request's language."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="For a 422: each field refused, and why."
    )
