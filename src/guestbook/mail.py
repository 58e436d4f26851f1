"""Mail: placeholder until the outbox lands (issue 5)."""

from __future__ import annotations


def init_app(app, settings) -> None:
    return None


async def queue_welcome(db, user) -> None:
    return None
