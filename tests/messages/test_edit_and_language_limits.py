"""What a member repeats that reaches other people has a limit: edits take a slot of
their own (not the post limit's), and a member's language switch writes their account
only when the language changes, within a limit of its own."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy import event, select

from guestbook import db
from guestbook.models import Message
from support import member, page_text, write


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_overrides,
        "edit_limit": 3,
        "post_limit": 2,
        "language_limit": 2,
        "duplicate_window_seconds": 0,
    }


async def body_of(app: Quart, message_id: int) -> str:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(Message.body).where(Message.id == message_id))


async def test_edits_take_a_slot_of_their_own_limit(app: Quart) -> None:
    writer = await member(app, "writer")
    message_id = await write(writer, "version 0")
    await write(writer, "another")  # the post limit (2) is used up now
    for n in range(1, 4):  # exactly the edit limit
        response = await writer.post(f"/messages/{message_id}/edit", form={"body": f"v{n}"})
        assert response.status_code == 302
    refused = await writer.post(f"/messages/{message_id}/edit", form={"body": "one too many"})
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert "one too many" in await page_text(refused)  # what they typed stays in the form
    assert await body_of(app, message_id) == "v3"


async def test_an_unchanged_edit_takes_no_slot(app: Quart) -> None:
    writer = await member(app, "writer")
    message_id = await write(writer, "same")
    for _ in range(5):
        response = await writer.post(f"/messages/{message_id}/edit", form={"body": "same"})
        assert response.status_code == 302


async def test_the_language_switch_writes_only_on_change_and_within_a_limit(app: Quart) -> None:
    client = await member(app, "polyglot")
    updates: list[str] = []

    def record(_conn, _cursor, statement: str, *_args: object) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("UPDATE USERS"):
            updates.append(statement)

    event.listen(db.engine(app).sync_engine, "before_cursor_execute", record)
    try:
        for choice in ("en", "en", "ko", "ko", "en"):  # 2 changes from the saved language
            response = await client.post("/lang", form={"lang": choice, "next": "/"})
            assert response.status_code == 302, choice
        assert len(updates) == 2
        response = await client.post("/lang", form={"lang": "ko", "next": "/"})
        assert response.status_code == 429  # a third change in the window
        assert len(updates) == 2
    finally:
        event.remove(db.engine(app).sync_engine, "before_cursor_execute", record)
