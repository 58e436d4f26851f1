"""Profiles: `/users/<username>` and that member's messages."""

from __future__ import annotations

import html
import re

from quart import Quart
from sqlalchemy import select

from conftest import page_text
from guestbook import db
from guestbook.models import User

SCRIPT = "<script>alert(1)</script>"


async def created_at(app: Quart, username: str):
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.created_at).where(User.username == username))


async def test_a_members_messages_show_on_their_profile_only(app, client, auth) -> None:
    await auth.signup("bob")
    await client.post("/messages", form={"body": "from bob"})
    await auth.logout()
    await auth.signup("alice")
    for body in ("first from alice", "second from alice"):
        await client.post("/messages", form={"body": body})

    page = await page_text(await client.get("/users/alice"))
    assert "<h1>alice</h1>" in page
    bodies = re.findall(r'<p class="body">(.*?)</p>', page)
    assert bodies == ["second from alice", "first from alice"]
    assert "from bob" not in page
    assert page.count('<a href="/users/alice">alice</a>') == 2  # each message names its writer
    assert "2 messages" in page

    bob = await page_text(await client.get("/users/bob"))
    assert re.findall(r'<p class="body">(.*?)</p>', bob) == ["from bob"]
    assert "1 message<" in bob
    assert "/edit" not in bob  # alice is looking: bob's messages are not hers to change


async def test_lookup_is_case_insensitive_and_shows_member_since_and_count(app, client, auth):
    await auth.signup("Alice")
    await auth.logout()
    response = await client.get("/users/aLiCe")
    assert response.status_code == 200
    page = await page_text(response)
    assert "<h1>Alice</h1>" in page
    since = await created_at(app, "Alice")
    assert (
        f'Member since <time datetime="{since.isoformat(timespec="seconds")}">'
        f"{since.day} {since:%b %Y, %H:%M} UTC</time>"
    ) in page
    assert "0 messages" in page
    assert "Alice has not written anything yet." in page


async def test_unknown_profile_is_a_404_page(client) -> None:
    response = await client.get("/users/nobody")
    assert response.status_code == 404
    page = await page_text(response)
    assert "Not found" in page
    assert "There is no member called &#39;nobody&#39;." in page


async def test_unknown_profile_name_is_escaped_on_the_404_page(client) -> None:
    response = await client.get("/users/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    assert response.status_code == 404
    page = await page_text(response)
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_body_is_escaped_on_the_profile(client, auth) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": SCRIPT})
    page = await page_text(await client.get("/users/alice"))
    assert SCRIPT not in page
    assert html.escape(SCRIPT, quote=False) in page


async def test_menu_links_to_the_logged_in_users_profile(client, auth) -> None:
    await auth.signup("alice")
    page = await page_text(await client.get("/"))
    assert '<a class="me" href="/users/alice">alice</a>' in page
