"""Atom feeds: read with a real feed parser (feedparser), checked against RFC 4287's
required elements, revalidated by ETag, linked from the pages. An entry's content is the
message as the page shows it: its sanitized HTML."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import feedparser
import pytest
from quart import Quart

from support import member, page_text, write

ATOM = "{http://www.w3.org/2005/Atom}"
MARKUP = "<b>bold</b> & <script>alert(1)</script> \"quoted\" 'single'"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_overrides,
        "base_url": "https://guestbook.example",
        "post_limit": 100,
        "signup_limit": 100,
    }


async def fetch(app: Quart, path: str, **headers: str):
    response = await app.test_client().get(path, headers=headers)
    return response, await response.get_data()


def assert_rfc4287(xml: bytes) -> ElementTree.Element:
    """The elements RFC 4287 requires, in the forms it requires (4.1.1, 4.1.2, 3.3)."""
    root = ElementTree.fromstring(xml)  # noqa: S314 (our own feed, made in this test)
    assert root.tag == f"{ATOM}feed"

    def one(parent: ElementTree.Element, name: str) -> str:
        found = parent.findall(f"{ATOM}{name}")
        assert len(found) == 1, (name, found)
        return found[0].text or ""

    def date(text: str) -> None:  # RFC 3339, with a time zone
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)", text)
        assert datetime.fromisoformat(text).tzinfo is not None

    assert one(root, "id").startswith("tag:guestbook.example,2026:")
    assert one(root, "title")
    date(one(root, "updated"))
    rels = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert rels["self"].startswith("https://guestbook.example/")
    assert rels["alternate"].startswith("https://guestbook.example/")
    feed_has_author = root.find(f"{ATOM}author/{ATOM}name") is not None
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        ids.append(one(entry, "id"))
        one(entry, "title")
        date(one(entry, "updated"))
        date(one(entry, "published"))
        assert feed_has_author or entry.find(f"{ATOM}author/{ATOM}name") is not None
        assert entry.find(f"{ATOM}content").get("type") == "html"
    assert len(ids) == len(set(ids)), "entry ids must be unique"
    return root


async def test_the_site_feed_is_valid_atom_with_the_20_newest_visible_messages(app: Quart):
    alice = await member(app, "alice")
    bob = await member(app, "bob")
    for n in range(21):
        await write(alice if n % 2 else bob, f"message {n}")
    response, xml = await fetch(app, "/feed.atom")
    assert response.status_code == 200
    assert response.content_type == "application/atom+xml; charset=utf-8"
    assert_rfc4287(xml)

    feed = feedparser.parse(xml)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Guestbook"
    assert feed.feed.link == "https://guestbook.example/"
    assert [e.content[0].value for e in feed.entries] == [
        f"<p>message {n}</p>" for n in range(20, 0, -1)
    ]
    newest = feed.entries[0]
    assert newest.author == "bob" and newest.author_detail.href.endswith("/users/bob")
    assert newest.id.startswith("tag:guestbook.example,2026:guestbook/message/")
    ident = newest.id.rsplit("/", 1)[1]  # the entry's link: the message's own page
    assert newest.link == f"https://guestbook.example/messages/{ident}#m{ident}"
    assert feed.feed.updated_parsed == newest.updated_parsed


def contents(xml: bytes) -> list[str]:
    """Each entry's content as the feed carries it (the HTML, before any reader's own
    sanitizer: feedparser would drop a script itself)."""
    root = ElementTree.fromstring(xml)  # noqa: S314 (our own feed, made in this test)
    return [entry.find(f"{ATOM}content").text for entry in root.findall(f"{ATOM}entry")]


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


async def test_markup_in_a_message_is_escaped_text(app: Quart):
    alice = await member(app, "alice")
    await write(alice, MARKUP)
    _, xml = await fetch(app, "/feed.atom")
    assert b"<script>" not in xml and b"&amp;lt;script&amp;gt;alert(1)&amp;lt;/script" in xml
    assert_rfc4287(xml)
    [content] = contents(xml)
    assert "<script" not in content and "<b>" not in content
    [entry] = feedparser.parse(xml).entries
    assert entry.content[0].type == "text/html"
    assert text_of(entry.content[0].value) == MARKUP  # exactly what was written, as text


async def test_an_entry_title_is_the_text_without_its_formatting(app: Quart):
    alice = await member(app, "alice")
    await write(alice, "**bold** and [a link](https://example.com)\nnext `line` & <b>")
    _, xml = await fetch(app, "/feed.atom")
    [entry] = feedparser.parse(xml).entries
    assert entry.title == "bold and a link next line & <b>"


async def test_an_entry_carries_the_formatting_and_never_a_script(app: Quart):
    alice = await member(app, "alice")
    await write(alice, "**bold** and [a link](https://example.com)")
    await write(alice, '<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror="y">')
    _, xml = await fetch(app, "/feed.atom")
    assert_rfc4287(xml)
    script, bold = contents(xml)
    assert bold == (
        '<p><strong>bold</strong> and <a href="https://example.com" '
        'rel="nofollow ugc noopener">a link</a></p>'
    )
    assert "<script" not in script and "<img" not in script and "<a" not in script
    assert (
        text_of(script)
        == '<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror="y">'
    )
    [second, first] = feedparser.parse(xml).entries
    assert "<strong>bold</strong>" in first.content[0].value
    assert "<script" not in second.content[0].value


async def test_an_empty_feed_is_still_valid(app: Quart):
    _, xml = await fetch(app, "/feed.atom")
    root = assert_rfc4287(xml)
    assert root.findall(f"{ATOM}entry") == []
    assert not feedparser.parse(xml).bozo


async def test_a_feed_and_its_404_speak_the_readers_language(app: Quart):
    await write(await member(app, "alice"), "hello")
    korean = {"Accept-Language": "ko"}
    response, xml = await fetch(app, "/users/alice/feed.atom", **korean)
    assert feedparser.parse(xml).feed.title == "방명록의 alice 님 글"
    assert {"Accept-Language", "Cookie"} <= set(response.vary)
    _, xml = await fetch(app, "/feed.atom", **korean)
    assert feedparser.parse(xml).feed.title == "방명록"
    missing, page = await fetch(app, "/users/nobody/feed.atom", **korean)
    assert missing.status_code == 404 and "(이)라는 회원은 없습니다" in page.decode()


async def test_a_members_feed_holds_their_messages_only(app: Quart):
    alice = await member(app, "alice")
    bob = await member(app, "bob")
    await write(alice, "by alice")
    await write(bob, "by bob")
    _, xml = await fetch(app, "/users/ALICE/feed.atom")  # names are case-insensitive
    assert_rfc4287(xml)
    feed = feedparser.parse(xml)
    assert not feed.bozo
    assert feed.feed.title == "alice in the Guestbook"
    assert feed.feed.link == "https://guestbook.example/users/alice"
    assert [e.content[0].value for e in feed.entries] == ["<p>by alice</p>"]
    assert feed.feed.author == "alice"
    for missing in ("/users/nobody/feed.atom", "/users/x/feed.atom", "/users/a%20b/feed.atom"):
        assert (await app.test_client().get(missing)).status_code == 404


async def test_entry_ids_are_permanent_and_edits_update_the_entry(app: Quart):
    alice = await member(app, "alice")
    message_id = await write(alice, "first text")
    _, before = await fetch(app, "/feed.atom")
    await alice.post(f"/messages/{message_id}/edit", form={"body": "second text"})
    _, after = await fetch(app, "/feed.atom")
    [old], [new] = feedparser.parse(before).entries, feedparser.parse(after).entries
    assert old.id == new.id
    assert new.content[0].value == "<p>second text</p>"
    assert new.updated_parsed >= old.updated_parsed
    assert new.published_parsed == old.published_parsed


@pytest.mark.parametrize("path", ["/feed.atom", "/users/alice/feed.atom"])
async def test_etag_and_304_until_something_changes(app: Quart, path: str):
    alice = await member(app, "alice")
    await write(alice, "one")
    first, body = await fetch(app, path)
    etag = first.headers["ETag"]
    assert etag and first.headers["Cache-Control"] == "no-cache"
    assert "Set-Cookie" not in first.headers  # a reader's feed is the same for everyone

    again, empty = await fetch(app, path, **{"If-None-Match": etag})
    assert again.status_code == 304 and empty == b""
    assert again.headers["ETag"] == etag

    await write(alice, "two")
    changed, new_body = await fetch(app, path, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"two" in new_body and b"two" not in body


async def test_the_pages_link_their_feeds(app: Quart):
    alice = await member(app, "alice")
    await write(alice, "hello")
    index = await page_text(await app.test_client().get("/"))
    assert re.search(
        r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" href="/feed\.atom">',
        index,
    )
    profile = await page_text(await app.test_client().get("/users/alice"))
    assert re.search(
        r'<link rel="alternate" type="application/atom\+xml" title="[^"]+" '
        r'href="/users/alice/feed\.atom">',
        profile,
    )
