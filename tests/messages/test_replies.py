"""Replies: one level deep, on each message's own page, oldest first; counted on the
lists; with a message's rules and limits; edited, deleted, reported and moderated like
messages; gone from every page, count and feed once hidden or deleted."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.models import BODY_MAX, Message
from support import (
    CSRFClient,
    bodies,
    member,
    message_id,
    next_event,
    opened,
    page_text,
    reset_schema,
    serving,
    write,
)


async def reply(client: CSRFClient, to: int, body: str) -> int:
    """Reply to message `to`; the id of the new reply."""
    response = await client.post(f"/messages/{to}/replies", form={"body": body})
    assert response.status_code == 302, await page_text(response)
    return await message_id(client.app, body)  # type: ignore[attr-defined]


async def row(app: Quart, ident: int) -> Message | None:
    async with db.sessionmaker(app)() as session:
        return await session.get(Message, ident)


def replies_count(html: str, ident: int) -> int:
    match = re.search(rf'id="m{ident}".*?data-replies="(\d+)"', html, re.S)
    assert match, f"no reply count on m{ident}"
    return int(match.group(1))


def thread_bodies(html: str) -> list[str]:
    """The reply bodies of a message's page, in page order."""
    return bodies(html.split('id="replies"', 1)[1])


async def test_a_reply_is_on_its_message_page_and_counted_on_the_lists(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "a message to answer")
    other = await write(alice, "another message")
    response = await bob.post(f"/messages/{first}/replies", form={"body": "first reply"})
    assert response.status_code == 302
    reply_id = await message_id(app, "first reply")
    assert response.headers["Location"] == f"/messages/{first}#m{reply_id}"
    await reply(alice, first, "second reply")

    page = await page_text(await app.test_client().get(f"/messages/{first}"))
    assert "a message to answer" in page
    assert thread_bodies(page) == ["first reply", "second reply"]  # oldest first
    assert "another message" not in page

    main = await page_text(await app.test_client().get("/"))
    assert "first reply" not in main  # replies stay on their message's page
    assert replies_count(main, first) == 2 and replies_count(main, other) == 0
    assert f'href="/messages/{first}"' in main
    # A reply's own address is its message's page, at the reply.
    moved = await app.test_client().get(f"/messages/{reply_id}")
    assert moved.status_code == 302
    assert moved.headers["Location"] == f"/messages/{first}#m{reply_id}"


async def test_answering_a_reply_answers_its_message_with_the_name(app: Quart) -> None:
    alice, bob, carol = [await member(app, n) for n in ("alice", "bob", "carol")]
    first = await write(alice, "the message")
    bobs = await reply(bob, first, "bob answers")
    form = await page_text(await carol.get(f"/messages/{first}?to={bobs}"))
    assert f'action="/messages/{bobs}/replies"' in form  # the form answers bob's reply
    response = await carol.post(f"/messages/{bobs}/replies", form={"body": "carol answers bob"})
    assert response.status_code == 302
    carols = await message_id(app, "@bob carol answers bob")
    assert (await row(app, carols)).parent_id == first  # one level deep
    # Already addressed: not twice.
    await carol.post(f"/messages/{bobs}/replies", form={"body": "@bob again"})
    assert (await row(app, await message_id(app, "@bob again"))).parent_id == first
    assert (await row(app, first)).reply_count == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [("", 400), ("   ", 400), ("x" * (BODY_MAX + 1), 400), ("x" * BODY_MAX, 302)],
)
async def test_a_reply_has_a_messages_rules(app: Quart, body: str, status: int) -> None:
    alice = await member(app, "alice")
    first = await write(alice, "the message")
    response = await alice.post(f"/messages/{first}/replies", form={"body": body})
    assert response.status_code == status
    if status == 400:
        assert 'id="body-error"' in await page_text(response)
        assert (await row(app, first)).reply_count == 0


async def test_replies_share_the_post_limit(settings_overrides: dict[str, Any]) -> None:
    async with serving({**settings_overrides, "post_limit": 3}) as app:
        await reset_schema(app)
        alice = await member(app, "alice")
        first = await write(alice, "one")
        await reply(alice, first, "two")
        await reply(alice, first, "three")  # the limit exactly reached
        response = await alice.post(f"/messages/{first}/replies", form={"body": "four"})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0
        assert "four" in await page_text(response)  # what they wrote stays in the form
        assert (await alice.post("/messages", form={"body": "five"})).status_code == 429


async def test_no_reply_to_what_is_not_there(app: Quart) -> None:
    moderator, alice = await member(app, "mod", moderator=True), await member(app, "alice")
    hidden = await write(alice, "soon hidden")
    assert (
        await moderator.post(f"/messages/{hidden}/hide", form={"reason": ""})
    ).status_code == 302
    for target in (hidden, 999_999):
        response = await alice.post(f"/messages/{target}/replies", form={"body": "hello"})
        assert response.status_code == 404
        assert (await app.test_client().get(f"/messages/{target}")).status_code == 404
    reader = app.test_client()
    response = await reader.post(f"/messages/{hidden}/replies", form={"body": "x"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


async def test_hidden_and_deleted_replies_leave_pages_counts_and_feeds(app: Quart) -> None:
    moderator = await member(app, "mod", moderator=True)
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "the message")
    kept = await reply(bob, first, "kept reply")
    hidden = await reply(bob, first, "hidden reply")
    deleted = await reply(bob, first, "deleted reply")
    assert (await row(app, first)).reply_count == 3

    assert (
        await moderator.post(f"/messages/{hidden}/hide", form={"reason": ""})
    ).status_code == 302
    assert (await bob.post(f"/messages/{deleted}/delete", form={})).status_code == 302
    reader = app.test_client()
    for path in (f"/messages/{first}", "/users/bob", "/users/bob/feed.atom", "/feed.atom", "/"):
        text = await page_text(await reader.get(path))
        assert "hidden reply" not in text and "deleted reply" not in text, path
    feed = await page_text(await reader.get("/users/bob/feed.atom"))
    assert "kept reply" in feed
    assert f"/messages/{first}#m{kept}" in feed  # a reply's entry: its message's page
    assert replies_count(await page_text(await reader.get("/")), first) == 1
    assert (await reader.get(f"/messages/{hidden}/fragment")).status_code == 404

    # Shown again, it is counted again.
    assert (
        await moderator.post(f"/messages/{hidden}/unhide", form={"reason": ""})
    ).status_code == 302
    assert (await row(app, first)).reply_count == 2
    # A hidden message takes its replies out of their writers' profiles and feeds.
    assert (await moderator.post(f"/messages/{first}/hide", form={"reason": ""})).status_code == 302
    for path in ("/users/bob", "/users/bob/feed.atom", f"/messages/{kept}/fragment"):
        assert "kept reply" not in await page_text(await reader.get(path)), path
    # Deleting the message deletes its replies; from its own page, back to the main page.
    deleted_here = await alice.post(
        f"/messages/{first}/delete", form={"next": f"/messages/{first}"}
    )
    assert deleted_here.status_code == 302 and deleted_here.headers["Location"] == "/"
    assert await row(app, kept) is None


async def test_replies_are_edited_reported_and_moderated_like_messages(app: Quart) -> None:
    moderator = await member(app, "mod", moderator=True)
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "the message")
    answer = await reply(bob, first, "a reply to edit")
    response = await bob.post(f"/messages/{answer}/edit", form={"body": "an edited reply"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/messages/{first}#m{answer}"
    assert "an edited reply" in await page_text(await app.test_client().get(f"/messages/{first}"))
    # Others may not edit or delete it.
    assert (await alice.post(f"/messages/{answer}/edit", form={"body": "mine"})).status_code == 403
    assert (await alice.post(f"/messages/{answer}/delete", form={})).status_code == 403
    report = await alice.post(f"/messages/{answer}/report", form={"reason": "rude"})
    assert report.status_code == 302
    assert "an edited reply" in await page_text(await moderator.get("/moderation"))
    removed = await moderator.post(f"/messages/{answer}/remove", form={"reason": "rude"})
    assert removed.status_code == 302
    assert await row(app, answer) is None
    assert (await row(app, first)).reply_count == 0


async def test_open_pages_hear_of_replies_and_counts(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "the message")
    async with opened(app.test_client()) as socket:
        answer = await reply(bob, first, "live reply")
        events = [await next_event(socket) for _ in range(2)]
        assert {"type": "edited", "id": first} in [
            {k: e[k] for k in ("type", "id")} for e in events if "parent" not in e
        ]
        created = next(e for e in events if e["type"] == "created")
        assert created["id"] == answer and created["parent"] == first
        await bob.post(f"/messages/{answer}/delete", form={})
        events = [await next_event(socket) for _ in range(2)]
        assert any(e["type"] == "deleted" and e.get("parent") == first for e in events)
    # The fragment as a message's page shows it: no link back to the message.
    other = await reply(bob, first, "another")
    inside = await page_text(await bob.get(f"/messages/{other}/fragment?thread=yes"))
    outside = await page_text(await bob.get(f"/messages/{other}/fragment"))
    assert 'class="in-reply"' not in inside and 'class="reply-to"' in inside
    assert f'href="/messages/{first}#m{other}"' in outside


async def test_a_readers_kept_page_shows_a_new_reply(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "the message")
    reader = app.test_client()
    assert thread_bodies(await page_text(await reader.get(f"/messages/{first}"))) == []
    assert replies_count(await page_text(await reader.get("/")), first) == 0
    await reply(bob, first, "fresh reply")
    assert thread_bodies(await page_text(await reader.get(f"/messages/{first}"))) == ["fresh reply"]
    assert replies_count(await page_text(await reader.get("/")), first) == 1


async def test_the_reply_count_is_the_visible_replies_in_the_table(app: Quart) -> None:
    """The trigger-kept count agrees with the rows after a mix of writes."""
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "the message")
    ids = [await reply(bob, first, f"reply {n}") for n in range(5)]
    await bob.post(f"/messages/{ids[1]}/delete", form={})
    await bob.post(f"/messages/{ids[3]}/delete", form={})
    async with db.sessionmaker(app)() as session:
        rows = await session.scalars(select(Message).where(Message.parent_id == first))
        visible = sum(1 for r in rows if r.visible)
    assert visible == 3 == (await row(app, first)).reply_count
