"""When the database holds a write back (SQLite's write lock held by another process,
a PostgreSQL table lock past the statement timeout), a post is answered in time,
written or refused, and a refused post is not remembered as posted; kept pages and
the readiness probe do not wait behind a pool that requests have taken; a change
racing a delete is a 404, never a 500."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from quart import Quart
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url

from guestbook import db
from guestbook.messages import services as messages
from guestbook.models import Message, utcnow
from guestbook.moderation import services as moderation
from support import ON_POSTGRES, audit_log, member, page_text, reset_schema, serving, write

SAME = "the very same words"


async def rows(app: Quart, body: str) -> int:
    async with db.sessionmaker(app)() as session:
        return len((await session.scalars(select(Message).where(Message.body == body))).all())


@asynccontextmanager
async def sqlite_write_lock(app: Quart) -> AsyncIterator[None]:
    """Another process holds SQLite's write lock (BEGIN IMMEDIATE) until the block ends;
    the app's connection gives up waiting for it after 200 ms."""
    async with db.engine(app).connect() as conn:
        await conn.exec_driver_sql("PRAGMA busy_timeout=200")
    path = make_url(str(db.engine(app).url)).database
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.read()",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.communicate("", timeout=10)


@asynccontextmanager
async def postgres_table_lock(app: Quart) -> AsyncIterator[None]:
    """Another connection holds an exclusive lock on `messages` until the block ends."""
    url = make_url(str(db.engine(app).url)).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        yield
        await transaction.rollback()
    finally:
        await conn.close()


def write_lock(app: Quart):  # noqa: ANN201
    return postgres_table_lock(app) if ON_POSTGRES else sqlite_write_lock(app)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "db_statement_timeout_ms": 500, "signup_limit": 100}


async def test_a_lost_post_is_not_called_a_duplicate(app: Quart) -> None:
    writer = await member(app, "writer")
    async with write_lock(app):
        lost = await writer.post("/messages", form={"body": SAME})
        assert lost.status_code == 503
    assert await rows(app, SAME) == 0
    again = await writer.post("/messages", form={"body": SAME})
    assert again.status_code == 302
    assert "exactly this" not in await page_text(await writer.get("/"))
    assert await rows(app, SAME) == 1


@pytest.mark.postgres_only
async def test_posts_during_a_table_lock_are_answered_within_the_statement_timeout(
    app: Quart,
) -> None:
    writers = [await member(app, f"writer{n}") for n in range(12)]
    async with postgres_table_lock(app):
        started = time.monotonic()
        answers = await asyncio.gather(
            *(
                client.post("/messages", form={"body": f"post {n}"})
                for n, client in enumerate(writers)
            )
        )
        took = time.monotonic() - started
    assert [answer.status_code for answer in answers] == [503] * 12
    # One statement timeout (0.5 s) for the batch, not one per post after it (6 s).
    assert took < 3, took


@pytest.mark.postgres_only
async def test_kept_pages_and_readyz_answer_while_requests_hold_the_whole_pool(
    settings_overrides: dict[str, Any],
) -> None:
    overrides = {
        **settings_overrides,
        "db_pool_size": 1,
        "db_max_overflow": 0,
        "db_pool_timeout": 5,
        "db_statement_timeout_ms": 8000,
    }
    async with serving(overrides) as app:
        await reset_schema(app)
        writer = await member(app, "writer")
        await write(writer, "kept on the page")
        reader = app.test_client()
        assert (await reader.get("/")).status_code == 200  # now kept whole
        async with postgres_table_lock(app):
            stuck = asyncio.create_task(writer.post("/messages", form={"body": "waits"}))
            await asyncio.sleep(0.5)  # its insert holds the pool's one connection
            started = time.monotonic()
            page = await reader.get("/")
            ready = await reader.get("/readyz")
            took = time.monotonic() - started
        await stuck
    assert page.status_code == 200
    assert "kept on the page" in await page_text(page)
    assert ready.status_code == 200
    assert took < 4, took  # before the pool's 5 s timeout


@pytest.mark.postgres_only
@pytest.mark.parametrize("change", ["edit", "hide", "delete", "remove"])
async def test_a_change_racing_a_delete_is_a_404(app: Quart, monkeypatch, change: str) -> None:
    moderator = await member(app, "mod", moderator=True)
    writer = await member(app, "writer")
    message_id = await write(writer, "soon gone")
    module, name = (messages, "own") if change in ("edit", "delete") else (moderation, "_message")
    loaded = getattr(module, name)

    async def then_deleted(*args: Any, **kwargs: Any) -> Message:
        message = await loaded(*args, **kwargs)
        async with db.sessionmaker()() as other:  # another transaction, committed first
            await other.execute(delete(Message).where(Message.id == message_id))
            await other.commit()
        return message

    monkeypatch.setattr(module, name, then_deleted)
    by, path, form = {
        "edit": (writer, "edit", {"body": "new text"}),
        "delete": (writer, "delete", {}),
        "hide": (moderator, "hide", {"reason": "x"}),
        "remove": (moderator, "remove", {"reason": "x"}),
    }[change]
    response = await by.post(f"/messages/{message_id}/{path}", form=form)
    assert response.status_code == 404
    assert await audit_log(app) == []  # no entry for what did not happen


@pytest.mark.postgres_only
async def test_an_edit_racing_a_hide_leaves_the_hidden_text_alone(app: Quart, monkeypatch) -> None:
    writer = await member(app, "writer")
    message_id = await write(writer, "the reported text")
    loaded = messages.own

    async def then_hidden(*args: Any, **kwargs: Any) -> Message:
        message = await loaded(*args, **kwargs)
        async with db.sessionmaker()() as other:  # a moderator's hide, committed first
            await other.execute(
                update(Message).where(Message.id == message_id).values(hidden_at=utcnow())
            )
            await other.commit()
        return message

    monkeypatch.setattr(messages, "own", then_hidden)
    response = await writer.post(f"/messages/{message_id}/edit", form={"body": "switched"})
    assert response.status_code == 403
    assert await rows(app, "the reported text") == 1
