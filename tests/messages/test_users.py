"""Profiles: `/users/<username>` and that member's messages."""

from __future__ import annotations

import re

import pytest

from support import SCRIPT, bodies, page_text, visible_text


async def test_a_members_messages_show_on_their_profile_only(client, seed) -> None:
    await seed.member("bob", "from bob")
    await seed.member("alice", "first from alice", "second from alice")

    response = await client.get("/users/alice")
    assert response.status_code == 200
    assert bodies(await page_text(response)) == ["second from alice", "first from alice"]
    text = await visible_text(response)
    assert "· 2 messages" in text
    assert "from bob" not in text
    assert bodies(await page_text(await client.get("/users/bob"))) == ["from bob"]


async def test_each_message_names_its_writer_with_a_link(client, seed) -> None:
    await seed.member("alice", "one", "two")
    page = await page_text(await client.get("/users/alice"))
    assert len(re.findall(r'<a href="/users/alice">alice</a>', page)) == 2


async def test_one_message_is_singular(client, seed) -> None:
    await seed.member("bob", "only one")
    assert "· 1 message " in await visible_text(await client.get("/users/bob"))


async def test_only_the_writer_sees_edit_on_a_profile(client, auth, seed) -> None:
    await seed.member("bob", "from bob")
    await seed.member("alice", "from alice")
    await auth.login("alice")
    assert "Edit" not in await visible_text(await client.get("/users/bob"))
    assert "Edit" in await visible_text(await client.get("/users/alice"))


async def test_lookup_is_case_insensitive_and_shows_member_since_and_count(client, seed):
    alice = await seed.member("Alice")
    response = await client.get("/users/aLiCe")
    assert response.status_code == 200
    text = await visible_text(response)
    since = alice.created_at
    assert f"Member since {since:%b} {since.day}, {since.year}, " in text
    assert "0 messages" in text
    assert "Alice has not written anything yet." in text
    exact = since.isoformat(timespec="seconds")
    assert f'<time datetime="{exact}">' in await page_text(response)


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/users/nobody", "There is no member called 'nobody'."),
        (
            "/users/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
            "There is no member called '<img src=x onerror=alert(1)>'.",
        ),
        ("/users/k\u0131te", "There is no member called"),  # a dotless i folds to no ASCII letter
    ],
)
async def test_unknown_profile_is_a_404_page_that_names_it_safely(client, seed, path, shown):
    await seed.member("kate")
    response = await client.get(path)
    assert response.status_code == 404
    assert "Not found" in await visible_text(response)
    assert shown in await visible_text(response)
    assert "<img" not in await page_text(response)


async def test_body_is_escaped_on_the_profile(client, seed) -> None:
    await seed.member("alice", SCRIPT)
    response = await client.get("/users/alice")
    assert SCRIPT not in await page_text(response)
    assert SCRIPT in await visible_text(response)


async def test_menu_links_to_the_logged_in_users_profile(client, auth) -> None:
    await auth.signup("alice")
    page = await page_text(await client.get("/"))
    assert re.search(r'<a [^>]*href="/users/alice"[^>]*>alice</a>', page)
