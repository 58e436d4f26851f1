"""A full disk while members post (SQLite's `max_page_count`, a disk of the database's
own): every post is either acknowledged and stored or refused with a page that says so,
the site serves reads throughout, and writes resume, the refused text included, once
there is room again."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.models import Message
from support import member, page_text

pytestmark = pytest.mark.sqlite_only  # PostgreSQL's full disk is the operator's to test

FILLER = "x" * 900


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "post_limit": 1000}


async def set_room(app: Quart, pages: int | None) -> None:
    """No more pages than the database has now (None: all the room it wants)."""
    async with db.engine(app).connect() as conn:
        if pages is None:
            await conn.exec_driver_sql("PRAGMA max_page_count=1073741823")
        else:
            count = (await conn.exec_driver_sql("PRAGMA page_count")).scalar()
            await conn.exec_driver_sql(f"PRAGMA max_page_count={count + pages}")


async def stored(app: Quart) -> set[str]:
    async with db.sessionmaker(app)() as session:
        return set(await session.scalars(select(Message.body)))


async def test_posts_on_a_full_disk_are_stored_or_refused_and_resume(app: Quart) -> None:
    writer = await member(app, "writer")
    reader = app.test_client()
    await set_room(app, pages=4)
    acknowledged, refused = [], []
    for n in range(200):
        body = f"{n} {FILLER}"
        response = await writer.post("/messages", form={"body": body})
        if response.status_code == 302:
            acknowledged.append(body)
        else:
            assert response.status_code == 503
            assert "no room to store" in await page_text(response)
            refused.append(body)
            if len(refused) == 3:
                break
        assert (await reader.get("/")).status_code == 200  # reads go on throughout
    assert acknowledged and len(refused) == 3, "the disk never filled: the test is broken"
    assert (await reader.get("/users/writer")).status_code == 200
    kept = await stored(app)
    assert set(acknowledged) <= kept
    assert not set(refused) & kept

    await set_room(app, pages=None)
    for body in refused:  # sent again: written, never "a repeat"
        response = await writer.post("/messages", form={"body": body})
        assert response.status_code == 302
    assert set(refused) <= await stored(app)
