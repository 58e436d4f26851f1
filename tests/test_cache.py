"""The rendered message list cache (`list_cache`): never a stale page.

Two app instances share one database, as two workers or hosts do: a write through
one is seen at once by the other, whose cached list was rendered before the write.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import delete, event, select, update

from conftest import PASSWORD, CSRFClient, csrf_from, page_text
from guestbook import create_app, db
from guestbook.models import ContentVersion, Message, User


class Statements:
    """The SQL statements the app sends, by their first words."""

    def __init__(self, app: Quart) -> None:
        self.seen: list[str] = []
        engine = db.engine(app).sync_engine
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement: str, *_args: object) -> None:  # noqa: ANN001
        self.seen.append(" ".join(statement.split()[:2]))


@pytest.fixture
async def other(settings_overrides: dict[str, Any]) -> AsyncIterator[CSRFClient]:
    """A client of a second instance on the same database (the `app` fixture made the
    schema), with its own engine, connection and cache."""
    app = create_app(settings_overrides)
    async with app.test_app():
        yield app.test_client()


def bodies(page: str) -> list[str]:
    return re.findall(r'<p class="body">(.*?)</p>', page, re.S)


async def seen_by(client, path: str = "/") -> str:
    response = await client.get(path)
    assert response.status_code == 200
    return await page_text(response)


async def message_id(app: Quart, body: str) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(Message.id).where(Message.body == body))


async def test_a_post_shows_at_once_on_the_other_instance(client, auth, other) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "first"})
    assert bodies(await seen_by(other)) == ["first"]  # rendered and cached there
    await client.post("/messages", form={"body": "second"})
    assert bodies(await seen_by(other)) == ["second", "first"]


async def test_an_edit_shows_at_once_on_the_other_instance(app, client, auth, other) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "before"})
    assert bodies(await seen_by(other)) == ["before"]
    ident = await message_id(app, "before")
    response = await client.post(f"/messages/{ident}/edit", form={"body": "after"})
    assert response.status_code == 302
    page = await seen_by(other)
    assert bodies(page) == ["after"]
    assert 'class="edited"' in page


async def test_a_delete_shows_at_once_on_the_other_instance(app, client, auth, other) -> None:
    await auth.signup("alice")
    for body in ("older", "newest"):
        await client.post("/messages", form={"body": body})
    assert bodies(await seen_by(other)) == ["newest", "older"]
    ident = await message_id(app, "newest")
    await client.post(f"/messages/{ident}/delete", form={})
    assert bodies(await seen_by(other)) == ["older"]
    # Write the same text again: SQLite may hand out the deleted row's id once more.
    await client.post("/messages", form={"body": "newest"})
    assert bodies(await seen_by(other)) == ["newest", "older"]


async def test_a_deleted_member_disappears_from_the_other_instance(
    app, client, auth, other
) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "by alice"})
    await auth.logout()
    await auth.signup("bob")
    await client.post("/messages", form={"body": "by bob"})
    assert bodies(await seen_by(other)) == ["by bob", "by alice"]
    # Not a route of the app: an operator removes the account, the database cascades.
    async with db.sessionmaker(app)() as session:
        await session.execute(delete(User).where(User.username == "alice"))
        await session.commit()
    assert bodies(await seen_by(other)) == ["by bob"]


async def test_the_page_after_a_write_through_the_other_instance(app, client, other) -> None:
    """The reverse direction, without the app: rows written by anyone else."""
    async with db.sessionmaker(app)() as session:
        session.add(User(username="carol", email="carol@example.com", password_hash="-"))
        await session.commit()
        carol = await session.scalar(select(User.id))
    assert bodies(await seen_by(client)) == []
    async with db.sessionmaker(app)() as session:
        session.add(Message(body="written elsewhere", writer_id=carol))
        await session.commit()
    assert bodies(await seen_by(client)) == ["written elsewhere"]
    assert bodies(await seen_by(other)) == ["written elsewhere"]


async def test_controls_and_tokens_are_the_viewers_own(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "mine"})
    ident = await message_id(app, "mine")
    mine = await seen_by(client)
    assert f'action="/messages/{ident}/delete"' in mine
    token = await client.csrf_token()
    assert f'name="csrf_token" value="{token}"' in mine

    # Alice on a second device: the same rows, another session, so another token.
    second = app.test_client()
    await second.post("/auth/login", form={"username": "alice", "password": PASSWORD})
    other_device = await seen_by(second)
    assert f'action="/messages/{ident}/delete"' in other_device
    assert token not in other_device
    assert csrf_from(other_device) == await second.csrf_token()

    # Bob and an anonymous visitor get the list without Alice's controls.
    bob = app.test_client()
    await bob.post(
        "/auth/signup",
        form={
            "username": "bob",
            "email": "bob@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    for page in (await seen_by(bob), await seen_by(app.test_client())):
        assert bodies(page) == ["mine"]
        assert f"/messages/{ident}/delete" not in page
        assert token not in page


async def test_delete_sends_the_owner_back_to_the_page_they_were_on(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "mine"})
    assert 'name="next" value="/?x=1"' in await seen_by(client, "/?x=1")
    page = await seen_by(client, "/")
    assert 'name="next" value="/"' in page
    assert "/?x=1" not in page


async def test_identical_requests_render_the_list_once(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    await auth.logout()
    visitors = [app.test_client() for _ in range(3)]
    pages = [await seen_by(visitor) for visitor in visitors]
    assert len({bodies(page)[0] for page in pages}) == 1
    caches = app.extensions["guestbook.list_cache"]
    assert len(caches.reads) == 1  # three visits, one page query
    assert len(caches.lists) == 1  # and one rendering


async def test_a_repeat_visit_asks_the_database_one_question(app, client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    await auth.logout()
    statements = Statements(app)
    for path in ("/", "/users/alice"):
        await seen_by(client, path)  # the first visit reads the page
        statements.seen.clear()
        await seen_by(client, path)
        assert statements.seen == ["SELECT content_version.version"], path


async def test_a_rename_outside_the_app_shows_everywhere_at_once(app, client, auth, other):
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    for visitor in (client, other):
        assert "alice" in await seen_by(visitor)
        assert "hello" in await seen_by(visitor, "/users/alice")
    async with db.sessionmaker(app)() as session:
        # By hand, a rename sets the lookup key too (README: canonical keys).
        await session.execute(update(User).values(username="alicia", username_key="alicia"))
        await session.commit()
    for visitor in (client, other):
        assert re.search(r">alicia<", await seen_by(visitor))
        assert (await visitor.get("/users/alice")).status_code == 404
        assert "hello" in await seen_by(visitor, "/users/alicia")


async def test_a_profile_count_follows_the_other_instance(app, client, auth, other) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "one"})
    assert "1 message<" in await seen_by(other, "/users/alice")
    await client.post("/messages", form={"body": "two"})
    page = await seen_by(other, "/users/alice")
    assert "2 messages<" in page
    assert bodies(page) == ["two", "one"]


async def test_without_the_version_row_nothing_is_kept(app, client, auth) -> None:
    """Were the row gone, no write could tell the cache: so every visit reads afresh."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "before"})
    async with db.sessionmaker(app)() as session:
        await session.execute(delete(ContentVersion))
        await session.commit()
    assert bodies(await seen_by(client)) == ["before"]
    await client.post("/messages", form={"body": "after"})
    assert bodies(await seen_by(client)) == ["after", "before"]


async def test_a_profile_is_cached_under_its_canonical_name(client, auth) -> None:
    """The Kelvin sign is a "K" (NFKC): its page is Kate's, from the same cache entry;
    a dotless "ı" is another letter, and no member."""
    await auth.signup("kate")
    await client.post("/messages", form={"body": "hello"})
    assert "hello" in await seen_by(client, "/users/kate")
    assert "hello" in await seen_by(client, "/users/\u212aATE")
    assert (await client.get("/users/k\u0131te")).status_code == 404


async def test_a_version_that_goes_back_empties_the_cache(app, client, auth) -> None:
    """A restored backup, or the row made again, may repeat numbers with other data."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "kept"})
    async with db.sessionmaker(app)() as session:
        start = await session.scalar(select(ContentVersion.version))

    async def restore(body: str, version: int) -> None:
        async with db.sessionmaker(app)() as session:
            await session.execute(update(Message).values(body=body))
            await session.execute(update(ContentVersion).values(version=version))
            await session.commit()

    assert bodies(await seen_by(client)) == ["kept"]  # cached at `start`
    await restore("restored", start - 1)  # the number went back: forget all
    assert bodies(await seen_by(client)) == ["restored"]
    await restore("written since", start)  # and climbs to `start` again, other data
    assert bodies(await seen_by(client)) == ["written since"]


async def test_a_member_since_date_changed_by_hand_shows(app, client, auth, other) -> None:
    await auth.signup("alice")
    assert "2001" not in await seen_by(other, "/users/alice")
    async with db.sessionmaker(app)() as session:
        await session.execute(update(User).values(created_at=datetime(2001, 2, 3, tzinfo=UTC)))
        await session.commit()
    assert "2001" in await seen_by(other, "/users/alice")
