"""Reply mail, delivered to a real SMTP server: the first reply's mail at once, later
ones gathered (at most one mail per message per `reply_mail_minutes`), never of one's
own reply, in the writer's language, with a one-click unsubscribe (RFC 8058) that
needs no login and no form token, and a switch on the account page."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from quart import Quart
from sqlalchemy import delete, select, update

from guestbook import db
from guestbook.accounts.services import unsubscribe_token
from guestbook.models import Base, Outbox, ReplyMail, User
from support import (
    MAIL_SITE,
    CSRFClient,
    SMTPTestServer,
    member,
    message_id,
    page_text,
    serving,
    smtp_settings,
    write,
)

BASE_URL = MAIL_SITE
WINDOW_MINUTES = 0.1  # six seconds: room for a few requests on a loaded machine
PATIENCE = 30  # seconds a mail may take to arrive on a loaded machine


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], smtp_server: SMTPTestServer):
    return {
        **settings_overrides,
        **smtp_settings(smtp_server),
        "reply_mail_minutes": WINDOW_MINUTES,
    }


@pytest.fixture
async def app(settings_overrides: dict[str, Any]) -> AsyncIterator[Quart]:
    async with serving(settings_overrides) as app:
        async with db.engine(app).begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        yield app


async def reply(client: CSRFClient, to: int, body: str) -> int:
    response = await client.post(f"/messages/{to}/replies", form={"body": body})
    assert response.status_code == 302, response.status_code
    return await message_id(client.app, body)  # type: ignore[attr-defined]


async def reply_mails(server: SMTPTestServer, count: int) -> list[Any]:
    """The first `count` reply mails (they carry an unsubscribe link), whenever the
    welcome mails arrive beside them."""
    deadline = time.monotonic() + PATIENCE
    while len(found := [m for m in server.messages if m["List-Unsubscribe"]]) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} reply mails"
        await asyncio.sleep(0.02)
    return found


def text_of(message: Any) -> str:
    return message.get_body(("plain",)).get_content()


async def reply_mail_rows(app: Quart) -> list[Outbox]:
    async with db.sessionmaker(app)() as session:
        rows = await session.scalars(select(Outbox).where(Outbox.unsubscribe_url != ""))
        return list(rows)


async def test_the_first_reply_is_mailed_at_once_and_later_ones_gathered(
    app: Quart, smtp_server: SMTPTestServer
) -> None:
    alice, bob, carol = [await member(app, n) for n in ("alice", "bob", "carol")]
    first = await write(alice, "what do you think?")
    await reply(alice, first, "my own reply")  # never mailed to its writer
    started = time.monotonic()
    await reply(bob, first, "bob thinks so")
    [mail] = await reply_mails(smtp_server, 1)
    assert mail["To"] == "alice@example.com"
    assert "bob thinks so" in text_of(mail) and "my own reply" not in text_of(mail)
    assert f"{BASE_URL}/messages/{first}" in text_of(mail)

    await reply(carol, first, "carol too")
    await reply(bob, first, "bob again")
    await asyncio.sleep(0.5)
    assert len(await reply_mails(smtp_server, 1)) == 1  # gathered: the window is not over
    [_, second] = await reply_mails(smtp_server, 2)
    assert time.monotonic() - started >= WINDOW_MINUTES * 60 - 0.2
    body = text_of(second)
    assert "carol too" in body and "bob again" in body and "bob thinks so" not in body
    assert body.index("carol too") < body.index("bob again")  # in order
    await asyncio.sleep(WINDOW_MINUTES * 60 + 0.5)
    assert len(await reply_mails(smtp_server, 2)) == 2  # nothing new, no mail


async def test_the_mail_is_in_the_writers_language(app: Quart, smtp_server: SMTPTestServer) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    async with db.sessionmaker(app)() as session:
        await session.execute(update(User).where(User.username == "alice").values(locale="ko"))
        await session.commit()
    first = await write(alice, "안녕하세요")
    await reply(bob, first, "반가워요")
    [mail] = await reply_mails(smtp_server, 1)
    assert mail["To"] == "alice@example.com"
    assert "답글" in mail["Subject"]
    assert "반가워요" in text_of(mail)


async def test_one_click_unsubscribe_needs_no_login_and_no_token(
    app: Quart, smtp_server: SMTPTestServer
) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "a message")
    bobs = await write(bob, "bob's message")
    await reply(bob, first, "a reply")
    [mail] = await reply_mails(smtp_server, 1)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"].strip()).group(1)
    assert link.startswith(f"{BASE_URL}/unsubscribe/")
    assert link in text_of(mail)
    path = urlsplit(link).path

    # A person's click: a page with a button, nothing changed yet.
    stranger = app.test_client()
    shown = await stranger.get(path)
    assert shown.status_code == 200 and '<form method="post">' in await page_text(shown)
    assert await wants_mail(app, "alice")
    # The mail program's POST: no cookie, no form token, and another site's headers.
    done = await stranger.post(
        path,
        form={"List-Unsubscribe": "One-Click"},
        csrf=False,
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert done.status_code == 200
    assert not await wants_mail(app, "alice") and await wants_mail(app, "bob")  # hers only
    # A forged or altered link changes nothing.
    for forged in (path + "x", "/unsubscribe/abc.def"):
        response = await stranger.post(forged, form={}, csrf=False)
        assert response.status_code == 404
    await reply(alice, bobs, "to bob")  # bob still hears
    await reply(bob, first, "another reply")  # alice no longer does
    await reply_mails(smtp_server, 2)
    await asyncio.sleep(0.5)
    assert [m["To"] for m in await reply_mails(smtp_server, 2)] == [
        "alice@example.com",
        "bob@example.com",
    ]  # bob's, and no second one for alice


async def test_an_unsubscribe_link_dies_with_its_account(app: Quart) -> None:
    """SQLite gives a deleted account's id to the next one: a link made for the old
    account must not switch off the new one's mail."""
    async with db.sessionmaker(app)() as session:
        alice = User(username="alice", email="alice@example.com", password_hash="-")
        session.add(alice)
        await session.commit()
        old_id = alice.id
    async with app.app_context():
        path = f"/unsubscribe/{unsubscribe_token(alice)}"
    assert (await app.test_client().get(path)).status_code == 200
    async with db.sessionmaker(app)() as session:
        await session.execute(delete(User).where(User.id == old_id))
        session.add(User(id=old_id, username="zelda", email="z@example.com", password_hash="-"))
        await session.commit()
    for method in ("GET", "POST"):
        response = await app.test_client().open(path, method=method)
        assert response.status_code == 404, method
    assert await wants_mail(app, "zelda")


async def wants_mail(app: Quart, name: str) -> bool:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.reply_mail).where(User.username == name))


async def test_the_account_page_switches_reply_mail(
    app: Quart, smtp_server: SMTPTestServer
) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    page = await page_text(await alice.get("/account"))
    assert re.search(r'id="reply_mail"[^>]* checked', page)
    assert "Your sessions" in page and 'href="/account/password"' in page
    assert (await alice.post("/account/reply-mail", form={})).status_code == 302
    assert not re.search(
        r'id="reply_mail"[^>]* checked', await page_text(await alice.get("/account"))
    )
    first = await write(alice, "quiet please")
    await reply(bob, first, "a reply nobody mails")
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(ReplyMail)) is None  # nothing noted
    assert (await alice.post("/account/reply-mail", form={"reply_mail": "on"})).status_code == 302
    await reply(bob, first, "now it is mailed")
    [mail] = await reply_mails(smtp_server, 1)
    assert "now it is mailed" in text_of(mail) and "nobody mails" not in text_of(mail)
    assert len(await reply_mail_rows(app)) == 1


async def test_a_reply_hidden_before_its_mail_is_not_in_it(
    app: Quart, smtp_server: SMTPTestServer
) -> None:
    moderator = await member(app, "mod", moderator=True)
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first = await write(alice, "a message")
    await reply(bob, first, "the first reply")
    # Mailed at once; the next ones wait for the window.
    await reply_mails(smtp_server, 1)
    await reply(bob, first, "a kind reply")
    hidden = await reply(bob, first, "a rude reply")
    assert (await moderator.post(f"/messages/{hidden}/hide", form={})).status_code == 302
    body = text_of((await reply_mails(smtp_server, 2))[1])
    assert "a kind reply" in body and "a rude reply" not in body
