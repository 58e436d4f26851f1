"""Spam kept out without a captcha: the honeypot, the signup form's render time, links
from new members, and the same message twice. Each refusal keeps what was typed."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select, update

from guestbook import db
from guestbook.limits import ratelimit, spam
from guestbook.models import Message, User, utcnow
from support import PASSWORD, AuthActions, CSRFClient, page_text


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # The render-time rule as in production; the other rules are on by default.
    return {**settings_overrides, "signup_min_seconds": 2.0, "signup_limit": 1000}


def signup_form(name: str, **extra: str) -> dict[str, str]:
    return {
        "username": name,
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        **extra,
    }


async def stamp(app: Quart, seconds_ago: float) -> str:
    async with app.app_context():
        field = spam.render_stamp(now=time.time() - seconds_ago)
    return re.search(r'value="([^"]+)"', field).group(1)


async def count(app: Quart, model: type) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def old_member(app: Quart, name: str) -> CSRFClient:
    """A member who joined two days ago."""
    client = await signed_up(app, name)
    async with db.sessionmaker(app)() as session:
        joined = utcnow() - timedelta(days=2)
        await session.execute(update(User).where(User.username == name).values(created_at=joined))
        await session.commit()
    return client


async def signed_up(app: Quart, name: str) -> CSRFClient:
    client = app.test_client()
    form = signup_form(name, rendered=await stamp(app, 3))
    assert (await client.post("/auth/signup", form=form)).status_code == 302
    return client


# --- the honeypot ---------------------------------------------------------------------


async def test_the_forms_carry_a_honeypot_hidden_from_people(app: Quart):
    signup = await page_text(await app.test_client().get("/auth/signup"))
    writer = await signed_up(app, "alice")
    index = await page_text(await writer.get("/"))
    for page in (signup, index):
        field = re.search(r'<div class="hp" aria-hidden="true">.*?</div>', page, re.S)
        assert field and 'name="website"' in field.group(0) and 'tabindex="-1"' in field.group(0)
    css = await page_text(await app.test_client().get("/static/style.css"))
    assert re.search(r"\.hp \{ position: absolute; left: -10000px;", css)


async def test_a_bot_filling_the_signup_honeypot_is_answered_as_usual_and_stored_nowhere(
    app: Quart,
):
    bot = app.test_client()
    form = signup_form("botty", rendered=await stamp(app, 3), website="http://spam.example")
    response = await bot.post("/auth/signup", form=form)
    person = await app.test_client().post(
        "/auth/signup", form=signup_form("person", rendered=await stamp(app, 3))
    )
    assert (response.status_code, response.headers["Location"]) == (
        person.status_code,
        person.headers["Location"],
    )
    assert "Welcome aboard, botty!" in await page_text(await bot.get("/"))
    async with db.sessionmaker(app)() as session:
        names = list(await session.scalars(select(User.username)))
    assert names == ["person"]
    assert "Welcome, botty" not in await page_text(await bot.get("/"))  # not logged in


async def test_a_bot_filling_the_message_honeypot_posts_nothing(app: Quart):
    writer = await signed_up(app, "alice")
    response = await writer.post("/messages", form={"body": "buy now", "website": "x"})
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert "Posted." in await page_text(await writer.get("/"))
    assert await count(app, Message) == 0


async def test_the_honeypot_can_be_turned_off(app: Quart):
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(spam_honeypot=False)
    writer = await signed_up(app, "alice")
    assert 'name="website"' not in await page_text(await writer.get("/"))
    await writer.post("/messages", form={"body": "autofilled", "website": "x"})
    assert await count(app, Message) == 1


# --- the signup form's render time ----------------------------------------------------


async def test_the_signup_form_carries_a_signed_render_time(app: Quart):
    page = await page_text(await app.test_client().get("/auth/signup"))
    assert re.search(r'<input type="hidden" name="rendered" value="[\w.-]+">', page)


@pytest.mark.parametrize("seconds_ago", [0, 1.5])
async def test_a_signup_within_two_seconds_is_refused_and_keeps_what_was_typed(
    app: Quart, seconds_ago: float
):
    client = app.test_client()
    form = signup_form("quick", rendered=await stamp(app, seconds_ago))
    response = await client.post("/auth/signup", form=form)
    assert response.status_code == 400
    page = await page_text(response)
    assert "quicker than a person types" in page
    assert 'value="quick"' in page and 'value="quick@example.com"' in page
    assert await count(app, User) == 0
    # The page comes back with a new stamp: sent again a little later, it passes.
    fresh = re.search(r'name="rendered" value="([^"]+)"', page).group(1)
    assert fresh != form["rendered"]
    later = await client.post("/auth/signup", form={**form, "rendered": await stamp(app, 2.1)})
    assert later.status_code == 302


@pytest.mark.parametrize("sent", [None, "", "forged", "MTIz.forgedsignature"])
async def test_a_missing_or_forged_render_time_is_refused(app: Quart, sent: str | None):
    form = signup_form("someone")
    if sent is not None:
        form["rendered"] = sent
    response = await app.test_client().post("/auth/signup", form=form)
    assert response.status_code == 400
    assert "This form is out of date" in await page_text(response)
    assert await count(app, User) == 0


async def test_a_stamp_signed_with_another_key_is_refused(app: Quart):
    from guestbook import create_app

    other = create_app({"env": "testing", "database_url": "sqlite+aiosqlite://"})
    async with other.app_context():
        field = spam.render_stamp(now=time.time() - 10)
    foreign = re.search(r'value="([^"]+)"', field).group(1)
    form = signup_form("someone", rendered=foreign)
    assert (await app.test_client().post("/auth/signup", form=form)).status_code == 400


# --- links from new members -----------------------------------------------------------

THREE_LINKS = "see https://a.example and http://b.example and www.c.example"


async def test_a_new_member_may_post_two_links_but_not_three(app: Quart):
    writer = await signed_up(app, "newbie")
    two = await writer.post("/messages", form={"body": "https://a.example www.b.example"})
    assert two.status_code == 302
    three = await writer.post("/messages", form={"body": THREE_LINKS})
    assert three.status_code == 400
    page = await page_text(three)
    assert "at most 2 links in a message (this has 3)" in page
    assert THREE_LINKS in page  # kept in the form
    assert await count(app, Message) == 1


async def test_links_count_as_the_message_shows_them(app: Quart):
    """Links written any way count (Markdown's, autolinks, bare URLs, `www.`, e-mail
    addresses); what the page shows as text does not."""
    writer = await signed_up(app, "newbie")
    written = "[a](https://a.example) <https://b.example> kim@example.com"
    response = await writer.post("/messages", form={"body": written})
    assert response.status_code == 400
    assert "(this has 3)" in await page_text(response)
    shown_as_text = (
        "`https://a.example` `http://b.example` `www.c.example`, "
        "[x](javascript:alert(1)), example.com"
    )
    assert (await writer.post("/messages", form={"body": shown_as_text})).status_code == 302


async def test_a_member_older_than_a_day_may_post_more_links(app: Quart):
    writer = await old_member(app, "veteran")
    assert (await writer.post("/messages", form={"body": THREE_LINKS})).status_code == 302


async def test_an_edit_cannot_sneak_links_in(app: Quart):
    writer = await signed_up(app, "newbie")
    await writer.post("/messages", form={"body": "harmless"})
    async with db.sessionmaker(app)() as session:
        message_id = await session.scalar(select(Message.id))
    response = await writer.post(f"/messages/{message_id}/edit", form={"body": THREE_LINKS})
    assert response.status_code == 400
    assert THREE_LINKS in await page_text(response)
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(Message.body)) == "harmless"


# --- the same body twice --------------------------------------------------------------


async def test_the_same_message_twice_within_ten_minutes_is_refused(app: Quart, monkeypatch):
    writer = await old_member(app, "alice")
    other = await old_member(app, "bob")
    assert (await writer.post("/messages", form={"body": "Hello!"})).status_code == 302
    again = await writer.post("/messages", form={"body": "Hello!"})
    assert again.status_code == 400
    page = await page_text(again)
    assert "You posted exactly this a moment ago." in page and ">Hello!</textarea>" in page
    # Another text, or another member, is fine.
    assert (await writer.post("/messages", form={"body": "Hello again!"})).status_code == 302
    assert (await other.post("/messages", form={"body": "Hello!"})).status_code == 302
    assert await count(app, Message) == 3

    # Ten minutes after the first, the same text passes again.
    later = time.monotonic() + 601
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: later)
    assert (await writer.post("/messages", form={"body": "Hello!"})).status_code == 302
    assert await count(app, Message) == 4


async def test_a_double_click_posts_once(app: Quart):
    writer = await old_member(app, "alice")
    await writer.csrf_token()
    answers = await asyncio.gather(
        *(writer.post("/messages", form={"body": "clicked twice"}) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers) == [302, 400, 400, 400]
    assert await count(app, Message) == 1


async def test_the_rules_are_settings(app: Quart):
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(
        duplicate_window_seconds=0, new_member_hours=0, signup_min_seconds=0
    )
    client = app.test_client()
    assert (await AuthActions(client).signup("alice", PASSWORD)).status_code == 302  # no stamp
    for _ in range(2):
        assert (await client.post("/messages", form={"body": THREE_LINKS})).status_code == 302
    assert await count(app, Message) == 2


async def test_spam_settings_must_not_be_negative():
    from guestbook.config import ConfigError, Settings

    for name in ("signup_min_seconds", "new_member_max_links", "report_hide_threshold"):
        with pytest.raises(ConfigError, match=name.upper()):
            Settings(env="testing").with_overrides(**{name: -1})


async def test_only_http_and_www_starts_count_as_links(app: Quart):
    writer = await signed_up(app, "newbie")
    body = "example.com, mail me at a@b.example, and http: is not a link"
    assert (await writer.post("/messages", form={"body": body})).status_code == 302
