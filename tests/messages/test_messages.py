"""The main page and writing, editing and deleting messages."""

from __future__ import annotations

import html
import re

import pytest
from quart import Quart
from sqlalchemy import func, select

from guestbook import db
from guestbook.models import Message, User
from support import SCRIPT, page_text, visible_text


async def all_messages(app: Quart) -> list[Message]:
    async with db.sessionmaker(app)() as session:
        return list((await session.execute(select(Message).order_by(Message.id))).scalars())


async def user_id(app: Quart, username: str) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.id).where(User.username == username))


async def post(client, body: str, **extra: str):
    return await client.post("/messages", form={"body": body, **extra})


def message_items(page: str) -> list[str]:
    """The `<li class="message">` elements of a page, in order."""
    return re.findall(r'<li class="message".*?</li>', page, re.S)


async def test_anonymous_cannot_post(app, client) -> None:
    response = await post(client, "hello")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/"
    assert await all_messages(app) == []


async def test_anonymous_sees_log_in_to_write_instead_of_the_form(client) -> None:
    page = await page_text(await client.get("/"))
    assert '<a href="/auth/login?next=/">Log in to write</a>' in page
    assert 'action="/messages"' not in page


async def test_post_redirects_and_flashes_then_shows_with_a_profile_link(app, client, auth):
    await auth.signup("alice")
    response = await post(client, "Hello, guestbook!")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"  # POST-redirect-GET
    page = await page_text(await client.get("/"))
    assert "<li>Posted.</li>" in page
    [item] = message_items(page)
    assert '<div class="body"><p>Hello, guestbook!</p></div>' in item
    assert '<a href="/users/alice">alice</a>' in item
    # The flash is shown once.
    assert "Posted." not in await page_text(await client.get("/"))
    [message] = await all_messages(app)
    assert message.writer_id == await user_id(app, "alice")


async def test_the_writer_cannot_be_forged_with_a_form_field(app, client, auth) -> None:
    await auth.signup("bob")
    await auth.logout()
    await auth.signup("alice")
    bob = await user_id(app, "bob")
    response = await post(client, "who wrote me?", writer_id=str(bob), writer="bob")
    assert response.status_code == 302
    [message] = await all_messages(app)
    assert message.writer_id == await user_id(app, "alice") != bob


async def test_messages_are_newest_first_with_a_readable_and_an_exact_time(app, client, auth):
    await auth.signup("alice")
    for body in ("first", "second", "third"):
        await post(client, body)
    page = await page_text(await client.get("/"))
    items = message_items(page)
    assert [re.search(r'<div class="body"><p>(.*?)</p>', i).group(1) for i in items] == [
        "third",
        "second",
        "first",
    ]
    first = (await all_messages(app))[0]
    when = first.created_at
    assert f'<time datetime="{when.isoformat(timespec="seconds")}">' in items[2]
    # English by default, in UTC and saying so (the page's script shows the reader's zone).
    hour = when.hour % 12 or 12
    noon = "PM" if when.hour >= 12 else "AM"
    shown = f"{when:%b} {when.day}, {when.year}, {hour}:{when:%M}\u202f{noon} UTC</time>"
    assert shown in items[2]
    assert when.isoformat(timespec="seconds").endswith("+00:00")


async def test_a_time_is_shown_in_each_readers_language(app, client, auth) -> None:
    await auth.signup("alice")
    await post(client, "hello")
    when = (await all_messages(app))[0].created_at

    async def shown_time(language: str) -> str:
        reader = app.test_client()  # no cookies: the language comes from the browser
        page = await page_text(await reader.get("/", headers={"Accept-Language": language}))
        return re.search(r"<time datetime=[^>]*>(.*?)</time>", page).group(1)

    english, korean, english_again = [await shown_time(lang) for lang in ("en", "ko", "en")]
    assert english == english_again and english.startswith(f"{when:%b} {when.day}, ")
    assert korean.startswith(f"{when.year}년 {when.month}월 {when.day}일")
    assert english.endswith(" UTC") and korean.endswith(" UTC")


async def test_body_is_escaped(app, client, auth) -> None:
    await auth.signup("alice")
    await post(client, SCRIPT)
    page = await page_text(await client.get("/"))
    assert SCRIPT not in page
    assert html.escape(SCRIPT, quote=False) in page
    [message] = await all_messages(app)
    assert message.body == SCRIPT  # stored as written, escaped only when shown


async def test_body_is_trimmed_and_keeps_its_line_breaks(app, client, auth) -> None:
    await auth.signup("alice")
    await post(client, "  \r\n first line\r\nsecond  line\n\n  fourth  \n ")
    [message] = await all_messages(app)
    assert message.body == "first line\nsecond  line\n\n  fourth"
    page = await page_text(await client.get("/"))
    # A line break is a <br>, a blank line a new paragraph (Markdown: which also drops
    # the spaces that start a line); the spaces inside a line stay.
    assert '<div class="body"><p>first line<br>second  line</p>\n<p>fourth</p></div>' in page
    # The stylesheet shows those spaces, and no margin around a lone paragraph.
    css = await page_text(await client.get("/static/style.css"))
    assert re.search(r"\.message \.body p[^{]*\{[^}]*white-space: pre-wrap", css)
    assert re.search(r"\.message \.body :is\(p, [^)]*\) \{ margin: 0; \}", css)


async def test_empty_or_too_long_body_is_refused_with_the_form_kept(app, client, auth):
    await auth.signup("alice")
    for body, error in (
        ("   \n  ", "Write something first."),
        ("x" * 1001, "At most 1,000 characters (this is 1,001)."),
    ):
        response = await post(client, body)
        assert response.status_code == 400
        page = await page_text(response)
        assert f'<p class="error" id="body-error">{error}</p>' in page
        assert f'aria-describedby="body-error body-hint">{body}</textarea>' in page
        assert "Posted." not in page
    assert await all_messages(app) == []


HINT = {
    "en": "*italic*, **bold**, `code`, [links](https://…), lists and &gt; quotes work.",
    "ko": "*기울임*, **굵게**, `코드`, [링크](https://…), 목록과 &gt; 인용을 쓸 수 있습니다.",
}


@pytest.mark.parametrize("language", ["en", "ko"])
async def test_the_message_box_says_which_formatting_works(app, client, auth, language):
    await auth.signup("alice")
    await post(client, "mine")
    [message] = await all_messages(app)
    hint = f'<small class="hint" id="body-hint">{HINT[language]}</small>'
    headers = {"Accept-Language": language}
    for path in ("/", f"/messages/{message.id}/edit"):
        page = await page_text(await client.get(path, headers=headers))
        assert re.search(r'<textarea id="body"[^>]* aria-describedby="body-hint">', page)
        assert hint in page
    # A refused text: the box is described by its error and the hint, both.
    refused = await page_text(await post(client, "x" * 1001))
    assert re.search(r'<textarea id="body"[^>]* aria-describedby="body-error body-hint">', refused)
    assert 'id="body-error"' in refused and 'id="body-hint"' in refused


async def test_exactly_1000_characters_are_accepted(app, client, auth) -> None:
    await auth.signup("alice")
    response = await post(client, " " + "é" * 1000 + "\n")
    assert response.status_code == 302
    [message] = await all_messages(app)
    assert message.body == "é" * 1000


async def test_edit_and_delete_show_only_on_the_viewers_own_messages(app, client, auth):
    await auth.signup("bob")
    await post(client, "bob's")
    await auth.logout()
    await auth.signup("alice")
    await post(client, "alice's")
    alice_msg, bob_msg = reversed(await all_messages(app))
    mine, theirs = message_items(await page_text(await client.get("/")))
    assert f"/messages/{bob_msg.id}/edit" not in theirs
    assert f"/messages/{bob_msg.id}/delete" not in theirs
    assert "Delete" not in theirs
    assert f'<a href="/messages/{alice_msg.id}/edit">Edit</a>' in mine
    assert f'action="/messages/{alice_msg.id}/delete"' in mine
    await auth.logout()
    anonymous = await page_text(await client.get("/"))
    assert "/edit" not in anonymous
    assert "/delete" not in anonymous


async def test_edit_shows_edited(app, client, auth) -> None:
    await auth.signup("alice")
    await post(client, "draft")
    [message] = await all_messages(app)
    assert "edited" not in await page_text(await client.get("/"))
    form = await page_text(await client.get(f"/messages/{message.id}/edit"))
    assert ">draft</textarea>" in form
    response = await client.post(f"/messages/{message.id}/edit", form={"body": " final "})
    assert response.status_code == 302
    [item] = message_items(await page_text(await client.get("/")))
    assert '<div class="body"><p>final</p></div>' in item
    assert 'class="edited"' in item
    assert ">edited</span>" in item
    [edited] = await all_messages(app)
    assert edited.body == "final"
    assert edited.updated_at is not None
    assert edited.created_at == message.created_at


async def test_edit_with_a_bad_body_keeps_the_form_and_changes_nothing(app, client, auth):
    await auth.signup("alice")
    await post(client, "keep me")
    [message] = await all_messages(app)
    response = await client.post(f"/messages/{message.id}/edit", form={"body": "y" * 1001})
    assert response.status_code == 400
    page = await page_text(response)
    assert "At most 1,000 characters" in page
    assert "y" * 1001 + "</textarea>" in page
    [unchanged] = await all_messages(app)
    assert (unchanged.body, unchanged.updated_at) == ("keep me", None)


# What a visitor may do to a message, as (method, path); {id} is the message.
CHANGES = [
    ("GET", "/messages/{id}/edit"),
    ("POST", "/messages/{id}/edit"),
    ("POST", "/messages/{id}/delete"),
]


async def change(client, method: str, path: str, message_id: int):
    url = path.format(id=message_id)
    if method == "GET":
        return await client.get(url)
    return await client.post(url, form={"body": "hijacked"})


@pytest.mark.parametrize(("method", "path"), CHANGES)
async def test_another_members_message_cannot_be_changed(app, client, auth, seed, method, path):
    await seed.member("bob", "bob's words")
    await seed.member("alice")
    await auth.login("alice")
    [message] = await all_messages(app)
    response = await change(client, method, path, message.id)
    assert response.status_code == 403
    assert "You can only change your own messages." in await visible_text(response)
    [unchanged] = await all_messages(app)
    assert (unchanged.body, unchanged.updated_at) == ("bob's words", None)


@pytest.mark.parametrize(("method", "path"), CHANGES)
async def test_unknown_message_is_404(app, client, auth, seed, method, path) -> None:
    await seed.member("alice")
    await auth.login("alice")
    response = await change(client, method, path, 999)
    assert response.status_code == 404
    assert "There is no such message." in await visible_text(response)
    assert await all_messages(app) == []


@pytest.mark.parametrize(("method", "path"), CHANGES)
async def test_anonymous_is_sent_to_log_in(app, client, seed, method, path) -> None:
    await seed.member("alice", "mine")
    [message] = await all_messages(app)
    response = await change(client, method, path, message.id)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    [unchanged] = await all_messages(app)
    assert unchanged.body == "mine"


async def test_delete_own_message_and_go_back_to_a_same_site_page_only(app, client, auth):
    await auth.signup("alice")
    for body in ("one", "two"):
        await post(client, body)
    one, two = await all_messages(app)
    response = await client.post(f"/messages/{one.id}/delete", form={"next": "/users/alice"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/alice"
    response = await client.post(f"/messages/{two.id}/delete", form={"next": "//evil.example"})
    assert response.headers["Location"] == "/"
    assert "Deleted." in await page_text(await client.get("/"))
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0


async def test_forms_on_a_refused_post_send_back_to_the_main_page(app, client, auth) -> None:
    await auth.signup("alice")
    await post(client, "kept")
    page = await page_text(await post(client, ""))
    # The language switch's, the popup's, the Like and the Delete button's `next`:
    # /messages only answers POST.
    assert re.findall(r'name="next" value="([^"]*)"', page) == ["/", "/", "/", "/"]
