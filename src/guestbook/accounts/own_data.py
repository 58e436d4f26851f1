"""A member's own data, as one JSON document they can download from their account page:
their profile, what they wrote (messages and replies, hidden ones too: they are theirs),
what they liked, what they reported, and their login sessions. Never a hash: not the
password's, not a login token's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import g
from sqlalchemy import select

from guestbook.models import Like, LoginSession, Message, Report, User

FORMAT = "guestbook-member-data"


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def _rows(statement: Any) -> list[dict[str, Any]]:
    result = await g.db.execute(statement)
    return [{key: _plain(value) for key, value in row.items()} for row in result.mappings()]


async def export(user: User) -> dict[str, Any]:
    """Everything the guestbook keeps about `user`, read through `g.db`."""
    return {
        "format": FORMAT,
        "profile": {
            key: _plain(getattr(user, key))
            for key in ("id", "username", "email", "created_at", "role", "locale", "reply_mail")
        },
        "messages": await _rows(
            select(
                Message.id,
                Message.parent_id,
                Message.body,
                Message.created_at,
                Message.updated_at,
                Message.hidden_at,
                Message.reply_count,
                Message.like_count,
            )
            .where(Message.writer_id == user.id)
            .order_by(Message.id)
        ),  # fmt: skip
        "likes": await _rows(
            select(Like.message_id, Like.created_at)
            .where(Like.user_id == user.id)
            .order_by(Like.created_at, Like.message_id)
        ),
        "reports": await _rows(
            select(Report.message_id, Report.reason, Report.created_at, Report.resolved_at)
            .where(Report.reporter_id == user.id)
            .order_by(Report.id)
        ),
        "login_sessions": await _rows(
            select(
                LoginSession.created_at,
                LoginSession.last_seen_at,
                LoginSession.remember,
                LoginSession.user_agent,
                LoginSession.ip,
            )
            .where(LoginSession.user_id == user.id)
            .order_by(LoginSession.id)
        ),  # fmt: skip
    }
