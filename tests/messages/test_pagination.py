"""Keyset pagination of the main page and the profile, and the cost of a page."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from quart import Quart
from sqlalchemy import event

from guestbook import db
from guestbook.messages.pagination import Cursor
from guestbook.models import ID_MAX, Message, User
from support import page_text

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


async def add_users(app: Quart, *names: str) -> list[int]:
    async with db.sessionmaker(app)() as session:
        users = [User(username=n, email=f"{n}@example.com", password_hash="-") for n in names]
        session.add_all(users)
        await session.commit()
        return [u.id for u in users]


async def add_messages(app: Quart, writers: list[int], stamps: list[datetime]) -> list[Message]:
    """Rows written directly, so several can share exactly the same created_at."""
    async with db.sessionmaker(app)() as session:
        messages = [
            Message(body=f"message {i}", writer_id=writers[i % len(writers)], created_at=stamp)
            for i, stamp in enumerate(stamps)
        ]
        session.add_all(messages)
        await session.commit()
        return messages


def newest_first(messages: list[Message]) -> list[int]:
    return [m.id for m in sorted(messages, key=lambda m: (m.created_at, m.id), reverse=True)]


async def walk(client, url: str) -> list[list[int]]:
    """Follow the "Older" links from `url`; the message ids of each page."""
    pages: list[list[int]] = []
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        page = await page_text(response)
        pages.append([int(i) for i in re.findall(r'<li class="message" id="m(\d+)"', page)])
        older = re.search(r'<a rel="next" href="([^"]+)">Older</a>', page)
        url = html.unescape(older.group(1)) if older else ""
        assert len(pages) <= 5, "the Older links never end"
    return pages


@pytest.mark.parametrize(
    "stamps",
    [
        pytest.param([T0 + timedelta(seconds=i) for i in range(45)], id="distinct"),
        pytest.param([T0] * 45, id="all-equal"),
        # Runs of seven equal times, so ties straddle both page boundaries.
        pytest.param([T0 + timedelta(microseconds=i // 7) for i in range(45)], id="runs"),
    ],
)
async def test_main_page_walks_45_messages_in_3_pages(app, client, stamps) -> None:
    writers = await add_users(app, "alice", "bob", "carol")
    messages = await add_messages(app, writers, stamps)
    pages = await walk(client, "/")
    assert [len(p) for p in pages] == [20, 20, 5]
    assert sum(pages, []) == newest_first(messages)  # no gaps, no repeats, in order


async def test_profile_walks_its_own_messages_in_pages(app, client) -> None:
    alice, bob = await add_users(app, "alice", "bob")
    # Alice's 45 (every other one at the same instant as one of Bob's) among Bob's 45.
    messages = await add_messages(
        app, [alice, bob], [T0 + timedelta(seconds=i // 4) for i in range(90)]
    )
    pages = await walk(client, "/users/alice")
    assert [len(p) for p in pages] == [20, 20, 5]
    assert sum(pages, []) == newest_first([m for m in messages if m.writer_id == alice])


async def test_a_new_message_does_not_shift_older_pages(app, client) -> None:
    [alice] = await add_users(app, "alice")
    messages = await add_messages(app, [alice], [T0 + timedelta(seconds=i) for i in range(25)])
    first = await page_text(await client.get("/"))
    older = html.unescape(re.search(r'<a rel="next" href="([^"]+)">Older</a>', first).group(1))
    await add_messages(app, [alice], [T0 + timedelta(hours=1)])  # OFFSET would repeat one
    second = await walk(client, older)
    assert second == [newest_first(messages)[20:]]


async def test_pager_links(app, client) -> None:
    [alice] = await add_users(app, "alice")
    await add_messages(app, [alice], [T0 + timedelta(seconds=i) for i in range(21)])
    first = await page_text(await client.get("/"))
    assert 'rel="next"' in first
    assert ">Newest</a>" not in first
    older = html.unescape(re.search(r'<a rel="next" href="([^"]+)">Older</a>', first).group(1))
    last = await page_text(await client.get(older))
    assert 'rel="next"' not in last
    assert '<a href="/">Newest</a>' in last


def test_cursor_round_trips_to_the_microsecond() -> None:
    cursor = Cursor(datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=UTC), 123)
    assert Cursor.decode(cursor.encode()) == cursor
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor.encode())  # safe in a URL as it is


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "%%%",
        b64("hello"),
        b64("1.2.3"),
        b64("1."),
        b64("1.-5"),
        b64("x.1"),
        b64("9" * 30 + ".1"),  # beyond datetime's range
        b64("-" + "9" * 30 + ".1"),
        b64("0." + "9" * 20),  # beyond any id the table can hold
        b64(f"0.{ID_MAX + 1}"),
        "A" * 5000,
        b64("1.2") + "\x00",
        b64("١.٢"),  # non-ASCII digits
    ],
)
async def test_a_forged_cursor_is_a_400_page(app, client, cursor: str) -> None:
    [alice] = await add_users(app, "alice")
    await add_messages(app, [alice], [T0])
    for path in ("/", "/users/alice"):
        response = await client.get(path, query_string={"before": cursor})
        assert response.status_code == 400
        assert "That page link is broken or out of date." in await page_text(response)


async def test_a_cursor_from_before_every_message_is_an_empty_page(app, client) -> None:
    [alice] = await add_users(app, "alice")
    await add_messages(app, [alice], [T0])
    cursor = Cursor(T0 - timedelta(days=1), 1).encode()
    response = await client.get("/", query_string={"before": cursor})
    assert response.status_code == 200
    assert "No messages yet." in await page_text(response)


class StatementCounter:
    """The statements a page sends, but the login lookup: a member's login is kept
    (`logins`), so it is looked up on some visits and not on others."""

    def __init__(self, app: Quart) -> None:
        self.engine = db.engine(app).sync_engine
        self.statements: list[str] = []

    def _count(self, _conn, _cursor, statement, _params, _context, _many) -> None:
        if "FROM login_sessions" not in statement:
            self.statements.append(statement)

    async def run(self, client, url: str) -> tuple[int, str]:
        self.statements = []
        event.listen(self.engine, "before_cursor_execute", self._count)
        try:
            response = await client.get(url)
        finally:
            event.remove(self.engine, "before_cursor_execute", self._count)
        assert response.status_code == 200
        return len(self.statements), await page_text(response)


def with_page_size(app: Quart, size: int) -> None:
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], page_size=size)


@pytest.mark.parametrize("path", ["/", "/users/bob"])
async def test_statements_per_page_do_not_grow_with_the_page_size(app, client, auth, path):
    await auth.signup("viewer")  # logged in
    bob, carol, dave, erin = await add_users(app, "bob", "carol", "dave", "erin")
    # 120 messages from four writers, half of them Bob's (the profile's subject).
    stamps = [T0 + timedelta(seconds=i) for i in range(120)]
    await add_messages(app, [bob, carol, bob, dave, bob, erin], stamps)
    counter = StatementCounter(app)
    counts = {}
    for size in (5, 50):
        with_page_size(app, size)
        first, page = await counter.run(client, path)
        assert page.count('<li class="message"') == size
        # One query loads the page's messages with their writers, joined.
        assert len([s for s in counter.statements if "FROM messages JOIN users" in s]) == 1
        older = re.search(r'<a rel="next" href="([^"]+)">Older</a>', page).group(1)
        second, _ = await counter.run(client, html.unescape(older))
        counts[size] = (first, second)
    writers = set(re.findall(r'<div class="meta">\s*<a href="/users/(\w+)">', page))
    assert writers == ({"bob"} if path == "/users/bob" else {"bob", "carol", "dave", "erin"})
    assert counts[5] == counts[50], counter.statements
