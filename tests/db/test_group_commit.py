"""Posts under way at the same time share one transaction and one commit
(`group_commit`); each request answers only once its own row is committed, and a
row that is refused fails only its own request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from guestbook import db
from guestbook.messages.services import new_messages
from guestbook.models import Message, User, utcnow
from support import page_text


@pytest.fixture
def commits(app, monkeypatch) -> list[int]:
    """The number of rows in each commit the group makes."""
    sizes: list[int] = []
    group = new_messages(app)
    original = group._commit

    async def counted(rows):
        sizes.append(len(rows))
        return await original(rows)

    monkeypatch.setattr(group, "_commit", counted)
    return sizes


async def rows(app) -> list[str]:
    """What a fresh connection sees: only committed rows."""
    async with db.sessionmaker(app)() as session:
        return list((await session.scalars(select(Message.body).order_by(Message.id))).all())


async def test_concurrent_posts_share_commits_and_all_land(app, client, auth, commits) -> None:
    await auth.signup("alice")
    bodies = [f"post {n}" for n in range(12)]
    responses = await asyncio.gather(
        *(client.post("/messages", form={"body": body}) for body in bodies)
    )
    assert [response.status_code for response in responses] == [302] * 12
    assert sorted(await rows(app)) == sorted(bodies)
    assert sum(commits) == 12
    assert len(commits) < 12, commits  # some commits carried several posts
    assert "post 11" in await page_text(await client.get("/"))


async def test_each_answer_comes_after_its_own_row_is_committed(app, auth) -> None:
    await auth.signup("alice")
    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(select(User.id))
    group = new_messages(app)

    async def post_and_look(n: int) -> bool:
        await group.insert({"body": f"row {n}", "writer_id": alice, "created_at": utcnow()})
        return f"row {n}" in await rows(app)

    assert all(await asyncio.gather(*(post_and_look(n) for n in range(8))))


async def test_each_post_of_a_shared_commit_learns_its_own_rows_id(app, auth, commits) -> None:
    """The ids come back by each row's key, not by RETURNING's order, which no database
    promises: two of the rows are even alike but for their writer."""
    await auth.signup("alice")
    await auth.signup("bob")
    async with db.sessionmaker(app)() as session:
        alice, bob = await session.scalars(select(User.id).order_by(User.id))
    group = new_messages(app)
    at = utcnow()
    written = [
        {"body": f"row {n}", "writer_id": alice, "created_at": utcnow()} for n in range(6)
    ] + [{"body": "same", "writer_id": writer, "created_at": at} for writer in (alice, bob)]
    ids = await asyncio.gather(*(group.insert(row) for row in written))
    assert len(commits) < len(written)  # some were written together
    async with db.sessionmaker(app)() as session:
        found = {
            row.id: (row.body, row.writer_id)
            for row in await session.execute(select(Message.id, Message.body, Message.writer_id))
        }
    assert [found[id_] for id_ in ids] == [(row["body"], row["writer_id"]) for row in written]


async def test_a_refused_row_fails_alone(app, auth, commits) -> None:
    await auth.signup("alice")
    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(select(User.id))
    group = new_messages(app)
    writers = [alice, alice, 999_999, alice]  # no member 999999: the foreign key refuses
    results = await asyncio.gather(
        *(
            group.insert({"body": f"row {n}", "writer_id": writer, "created_at": utcnow()})
            for n, writer in enumerate(writers)
        ),
        return_exceptions=True,
    )
    assert [type(result) for result in results] == [int, int, IntegrityError, int]
    assert sorted(await rows(app)) == ["row 0", "row 1", "row 3"]
    async with db.sessionmaker(app)() as session:
        bodies = {
            id_: await session.scalar(select(Message.body).where(Message.id == id_))
            for id_ in (results[0], results[1], results[3])
        }
    assert bodies == {results[0]: "row 0", results[1]: "row 1", results[3]: "row 3"}
    assert commits[0] == 4  # tried together first, then each alone


async def test_a_database_outage_fails_each_post_with_a_503_and_writes_nothing(
    app, client, auth, monkeypatch
) -> None:
    from sqlalchemy.exc import OperationalError

    await auth.signup("alice")
    group = new_messages(app)

    async def down(rows):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(group, "_commit", down)
    responses = await asyncio.gather(
        *(client.post("/messages", form={"body": f"lost {n}"}) for n in range(3))
    )
    assert [response.status_code for response in responses] == [503] * 3
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_a_failed_commit_is_not_retried(app, auth, monkeypatch) -> None:
    """Whether a failed COMMIT took effect is unknown: writing the rows again could
    write them twice, so each request gets the error instead."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.ext.asyncio import AsyncConnection

    await auth.signup("alice")
    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(select(User.id))
    inserted: list[int] = []  # rows sent per INSERT

    def count(_conn, _cursor, statement, _parameters, context, _executemany) -> None:
        if statement.startswith("INSERT INTO messages"):
            # Each row's parameters, however they are sent (one statement of several
            # rows, for RETURNING).
            inserted.append(len(context.compiled_parameters))

    event.listen(db.engine(app).sync_engine, "before_cursor_execute", count)

    async def lost_reply(self) -> None:
        raise OperationalError("COMMIT", {}, Exception("connection closed"))

    monkeypatch.setattr(AsyncConnection, "commit", lost_reply)
    group = new_messages(app)
    results = await asyncio.gather(
        *(
            group.insert({"body": f"row {n}", "writer_id": alice, "created_at": utcnow()})
            for n in range(4)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(result, OperationalError) for result in results)
    assert sum(inserted) == 4, inserted  # each row sent once: none retried
