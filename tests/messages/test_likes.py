"""Likes: a toggle per member and message, one like however many requests race, shown
as `data-likes` on every list and message page, heard live, and limited on their own
(no post slot taken)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from quart import Quart
from sqlalchemy import delete, func, select

from guestbook import db
from guestbook.models import Like, Message, User
from support import (
    member,
    next_event,
    opened,
    page_text,
    reset_schema,
    serving,
    write,
)


def likes_on(html: str, ident: int) -> int:
    match = re.search(rf'id="m{ident}".*?data-likes="(\d+)"', html, re.S)
    assert match, f"no like count on m{ident}"
    return int(match.group(1))


def like_button(html: str, ident: int) -> str:
    match = re.search(
        rf'action="/messages/{ident}/like".*?<button[^>]*aria-pressed="(\w+)"[^>]*>([^<]*)<',
        html,
        re.S,
    )
    assert match, f"no like button on m{ident}"
    return f"{match.group(1)} {match.group(2)}"


async def counted(app: Quart, ident: int) -> tuple[int, int]:
    """The message's kept count, and its rows in `likes`."""
    async with db.sessionmaker(app)() as session:
        kept = await session.scalar(select(Message.like_count).where(Message.id == ident))
        rows = await session.scalar(select(func.count()).where(Like.message_id == ident))
    return kept, rows


async def test_a_like_is_a_toggle_shown_on_every_list(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "likeable")
    page = await page_text(await bob.get("/"))
    assert likes_on(page, first) == 0 and like_button(page, first) == "false Like"

    response = await bob.post(f"/messages/{first}/like", form={"next": "/users/alice"})
    assert response.status_code == 302 and response.headers["Location"] == "/users/alice"
    for path in ("/", "/users/alice", f"/messages/{first}"):
        assert likes_on(await page_text(await app.test_client().get(path)), first) == 1, path
    assert like_button(await page_text(await bob.get("/")), first) == "true Unlike"
    assert like_button(await page_text(await alice.get("/")), first) == "false Like"

    await bob.post(f"/messages/{first}/like", form={})
    assert likes_on(await page_text(await bob.get("/")), first) == 0
    assert await counted(app, first) == (0, 0)


async def test_replies_are_liked_too(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "the message")
    await bob.post(f"/messages/{first}/replies", form={"body": "a reply"})
    async with db.sessionmaker(app)() as session:
        answer = await session.scalar(select(Message.id).where(Message.parent_id == first))
    await alice.post(f"/messages/{answer}/like", form={})
    page = await page_text(await app.test_client().get(f"/messages/{first}"))
    assert likes_on(page, answer) == 1 and likes_on(page, first) == 0


async def test_a_burst_of_likes_counts_once(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "popular")
    responses = await asyncio.gather(
        *(bob.post(f"/messages/{first}/like", form={}) for _ in range(12))
    )
    assert all(r.status_code == 302 for r in responses)
    kept, rows = await counted(app, first)
    assert rows in (0, 1) and kept == rows  # one member, at most one like, counted right


async def test_many_members_liking_at_once_are_each_counted(app: Quart) -> None:
    alice = await member(app, "alice")
    first = await write(alice, "popular")
    fans = [await member(app, f"fan{n}") for n in range(8)]
    responses = await asyncio.gather(*(f.post(f"/messages/{first}/like", form={}) for f in fans))
    assert all(r.status_code == 302 for r in responses)
    assert await counted(app, first) == (8, 8)
    # A member who leaves takes their like with them.
    async with db.sessionmaker(app)() as session:
        await session.execute(delete(User).where(User.username == "fan0"))
        await session.commit()
    assert await counted(app, first) == (7, 7)


async def test_no_like_for_what_is_not_there(app: Quart) -> None:
    moderator, alice = await member(app, "mod", moderator=True), await member(app, "alice")
    hidden = await write(alice, "soon hidden")
    await moderator.post(f"/messages/{hidden}/hide", form={"reason": ""})
    for target in (hidden, 999_999):
        assert (await alice.post(f"/messages/{target}/like", form={})).status_code == 404
    assert await counted(app, hidden) == (0, 0)
    response = await app.test_client().post(f"/messages/{hidden}/like", form={})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


async def test_likes_have_a_limit_of_their_own(settings_overrides: dict[str, Any]) -> None:
    async with serving({**settings_overrides, "like_limit": 3, "post_limit": 1}) as app:
        await reset_schema(app)
        alice, bob = await member(app, "alice"), await member(app, "bob")
        first = await write(alice, "one")  # alice's only post slot
        for _ in range(3):  # the limit exactly reached
            assert (await bob.post(f"/messages/{first}/like", form={})).status_code == 302
        refused = await bob.post(f"/messages/{first}/like", form={})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert await counted(app, first) == (1, 1)
        # Likes take no post slot, and posts none of the likes.
        assert (await alice.post(f"/messages/{first}/like", form={})).status_code == 302
        assert (await alice.post("/messages", form={"body": "two"})).status_code == 429


async def test_open_pages_hear_of_a_like(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "liked live")
    async with opened(app.test_client()) as socket:
        await bob.post(f"/messages/{first}/like", form={})
        event = await next_event(socket)
        assert (event["type"], event["id"]) == ("edited", first) and "parent" not in event
    fragment = await page_text(await app.test_client().get(f"/messages/{first}/fragment"))
    assert likes_on(fragment, first) == 1


async def test_a_readers_kept_page_shows_a_new_like(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "kept page")
    reader = app.test_client()
    assert likes_on(await page_text(await reader.get("/")), first) == 0
    await bob.post(f"/messages/{first}/like", form={})
    assert likes_on(await page_text(await reader.get("/")), first) == 1
