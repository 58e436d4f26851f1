"""A member deletes their account on `/account`: only with their password (and the
form's token), everything of theirs goes in one go (messages, replies, likes, reports,
tokens, logins, mail), counts and open pages follow, and what moderators hid stays
hidden."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select

from guestbook import db
from guestbook.messages import reply_mail
from guestbook.models import (
    ApiToken,
    Like,
    LoginSession,
    Message,
    Outbox,
    ReplyMail,
    Report,
    User,
)
from support import (
    PASSWORD,
    CSRFClient,
    all_rows,
    cookie,
    field_error,
    member,
    message_id,
    next_event,
    opened,
    page_text,
    signed_in_as,
    token_for,
    write,
)

API_ME = "/api/v1/me"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "live_poll_seconds": 0.2}


async def delete_account(client: CSRFClient, password: str = PASSWORD, **kwargs: Any):
    return await client.post("/account/delete", form={"password": password}, **kwargs)


async def user_id(app: Quart, name: str) -> int | None:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.id).where(User.username == name))


async def counts(app: Quart, body: str) -> tuple[int, int]:
    async with db.sessionmaker(app)() as session:
        row = (
            await session.execute(
                select(Message.reply_count, Message.like_count).where(Message.body == body)
            )
        ).one()
    return row.reply_count, row.like_count


async def rows_of(app: Quart, model: type, *where: Any) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_the_account_page_offers_it_and_says_what_goes_and_what_stays(app: Quart) -> None:
    alice = await member(app, "alice")
    page = await page_text(await alice.get("/account"))
    assert 'id="delete"' in page and 'action="/account/delete"' in page
    assert 'id="delete-password" name="password" type="password"' in page
    assert "Your name stays reserved for 30 days" in page
    assert "pseudonym" in page


@pytest.mark.parametrize("password", ["", "not my password"])
async def test_a_wrong_or_missing_password_deletes_nothing(app: Quart, password: str) -> None:
    alice = await member(app, "alice")
    await write(alice, "still here")
    before = await all_rows(app)

    response = await delete_account(alice, password)

    assert response.status_code == 400
    assert field_error(await page_text(response), "delete-password")
    assert await all_rows(app) == before
    assert await signed_in_as(alice) == "alice"


async def test_the_form_needs_its_token(app: Quart) -> None:
    alice = await member(app, "alice")
    before = await all_rows(app)
    response = await delete_account(alice, csrf=False)
    assert response.status_code == 400
    assert "did not come from this site" in await page_text(response)
    assert await all_rows(app) == before


async def test_guessing_the_password_here_is_limited_like_the_password_form(app: Quart) -> None:
    alice = await member(app, "alice")
    for _ in range(app.config["SETTINGS"].login.limit):
        assert (await delete_account(alice, "guess")).status_code == 400
    refused = await delete_account(alice)  # the right one, past the limit
    assert refused.status_code == 429
    assert await user_id(app, "alice") is not None


async def test_the_right_password_deletes_everything_of_theirs(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    phone = app.test_client()
    login = {"username": "alice", "password": PASSWORD}
    assert (await phone.post("/auth/login", form=login)).status_code == 302
    carol = await member(app, "carol")
    mine = await write(alice, "alice's message")
    bobs = await write(bob, "bob's message")
    other = await write(bob, "bob's other message")
    # Under her message: bob's reply (and its reply mail to her), carol's like and report.
    await bob.post(f"/messages/{mine}/replies", form={"body": "bob answers"})
    await carol.post(f"/messages/{mine}/like", form={})
    await carol.post(f"/messages/{mine}/report", form={"reason": "rude"})
    # Hers on bob's: a reply, a like, a report.
    await alice.post(f"/messages/{bobs}/replies", form={"body": "alice answers"})
    await alice.post(f"/messages/{bobs}/like", form={})
    await alice.post(f"/messages/{other}/report", form={"reason": "meh"})
    await carol.post(f"/messages/{bobs}/like", form={})
    assert await counts(app, "bob's message") == (1, 2)
    async with app.app_context():
        await reply_mail.queue_due(db.sessionmaker(app))  # the reply mail, queued for her
    token = await token_for(alice)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await app.test_client().get(API_ME, headers=bearer)).status_code == 200
    alice_id = await user_id(app, "alice")
    assert await rows_of(app, Outbox, Outbox.recipient == "alice@example.com") == 2
    his_mail = await rows_of(app, Outbox, Outbox.recipient == "bob@example.com")

    response = await delete_account(alice)

    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Your account is deleted" in await page_text(await alice.get("/"))
    assert await signed_in_as(alice) is None and not cookie(alice, "gb_login")
    assert await signed_in_as(phone) is None  # every login ended, not only this one
    assert (await app.test_client().get(API_ME, headers=bearer)).status_code == 401
    assert await user_id(app, "alice") is None
    async with db.sessionmaker(app)() as session:
        bodies = set(await session.scalars(select(Message.body)))
    assert bodies == {"bob's message", "bob's other message"}  # bob's reply went with hers
    assert await counts(app, "bob's message") == (0, 1)  # her reply and her like, gone
    for model, whose in (
        (Like, Like.user_id),
        (Report, Report.reporter_id),
        (ApiToken, ApiToken.user_id),
        (LoginSession, LoginSession.user_id),
    ):
        assert await rows_of(app, model, whose == alice_id) == 0, model
    assert await rows_of(app, Report) == 0  # carol's report on her message too
    assert await rows_of(app, ReplyMail, ReplyMail.message_id == mine) == 0
    assert await rows_of(app, Outbox, Outbox.recipient == "alice@example.com") == 0
    assert await rows_of(app, Outbox, Outbox.recipient == "bob@example.com") == his_mail
    assert await signed_in_as(bob) == "bob"
    assert (await bob.get("/users/alice")).status_code == 404


async def test_open_pages_hear_each_of_their_messages_deleted(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    first, second = await write(alice, "her first"), await write(alice, "her second")
    bobs = await write(bob, "his message")
    await bob.post(f"/messages/{first}/replies", form={"body": "under hers"})
    await alice.post(f"/messages/{bobs}/replies", form={"body": "under his"})
    await alice.post(f"/messages/{bobs}/like", form={})
    under_hers, under_his = await message_id(app, "under hers"), await message_id(app, "under his")
    gone = {first, second, under_hers, under_his}
    reader = app.test_client()
    assert "her first" in await page_text(await reader.get("/"))  # kept, from now on

    async with opened(app.test_client()) as socket:
        assert (await delete_account(alice)).status_code == 302
        heard: dict[int, set[str]] = {}
        while not gone <= {i for i, kinds in heard.items() if "deleted" in kinds}:
            event = await next_event(socket)
            heard.setdefault(event["id"], set()).add(event["type"])

    assert gone <= set(heard)
    assert heard.get(bobs) == {"edited"}  # his counts fell: the page refreshes it
    # The main page the reader was given is kept under the content version: not shown again.
    page = await page_text(await reader.get("/"))
    assert "his message" in page and "her first" not in page and "her second" not in page


async def test_what_a_departing_moderator_hid_stays_hidden(app: Quart) -> None:
    moderator, bob = await member(app, "mod", moderator=True), await member(app, "bob")
    hidden = await write(bob, "hidden by the moderator")
    await write(bob, "visible")
    assert (await moderator.post(f"/messages/{hidden}/hide", form={})).status_code == 302

    assert (await delete_account(moderator)).status_code == 302

    async with db.sessionmaker(app)() as session:
        message = await session.get(Message, hidden)
    assert message.hidden_at is not None and message.hidden_by is None
    reader = await page_text(await app.test_client().get("/users/bob"))
    assert "visible" in reader and "hidden by the moderator" not in reader
    assert (await app.test_client().get(f"/messages/{hidden}")).status_code == 404
    own = await page_text(await bob.get("/users/bob"))
    assert "hidden by the moderator" in own  # its writer still sees it, marked
