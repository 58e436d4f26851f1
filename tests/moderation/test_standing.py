"""Hiding by reports needs reporters of standing, never hides a moderator's message, and
cannot be baited: an edit after a moderator's decision reopens reporting, and a hidden
message cannot be edited by its writer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select, update

from guestbook import db
from guestbook.models import Message, User, utcnow
from support import member, page_text, write


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # The defaults: reports from members of a day or more, three of them hide.
    return {**settings_overrides, "reporter_min_hours": 24, "report_hide_threshold": 3}


async def hidden(app: Quart, message_id: int) -> bool:
    async with db.sessionmaker(app)() as session:
        message = await session.get(Message, message_id)
        return message.hidden_at is not None


async def age(app: Quart, *names: str, hours: int = 25) -> None:
    """Make these members `hours` old."""
    async with db.sessionmaker(app)() as session:
        await session.execute(
            update(User)
            .where(User.username.in_(names))
            .values(created_at=utcnow() - timedelta(hours=hours))
        )
        await session.commit()


async def report(client, message_id: int) -> None:
    response = await client.post(f"/messages/{message_id}/report", form={"reason": "spam"})
    assert response.status_code == 302


async def reporters(app: Quart, names: list[str], *, write_first: bool) -> list:
    clients = [await member(app, name) for name in names]
    if write_first:
        for name, client in zip(names, clients, strict=True):
            await write(client, f"hello from {name}")
    return clients


async def test_three_throw_away_accounts_hide_nothing(app: Quart) -> None:
    writer = await member(app, "writer")
    target = await write(writer, "an honest message")
    for client in await reporters(
        app, ["throwaway1", "throwaway2", "throwaway3"], write_first=True
    ):
        await report(client, target)
    assert not await hidden(app, target)  # a minute old: no standing yet


async def test_old_accounts_without_a_visible_message_hide_nothing(app: Quart) -> None:
    writer = await member(app, "writer")
    target = await write(writer, "an honest message")
    clients = await reporters(app, ["quiet1", "quiet2", "quiet3"], write_first=False)
    await age(app, "quiet1", "quiet2", "quiet3")
    for client in clients:
        await report(client, target)
    assert not await hidden(app, target)


async def test_three_members_of_standing_hide_it(app: Quart) -> None:
    writer = await member(app, "writer")
    target = await write(writer, "spam spam spam")
    clients = await reporters(app, ["regular1", "regular2", "regular3"], write_first=True)
    await age(app, "regular1", "regular2", "regular3")
    for client in clients[:2]:
        await report(client, target)
    assert not await hidden(app, target)
    await report(clients[2], target)  # exactly the threshold
    assert await hidden(app, target)


async def test_reports_never_hide_a_moderators_message(app: Quart) -> None:
    moderator = await member(app, "mod", moderator=True)
    announcement = await write(moderator, "the guestbook closes at noon")
    clients = await reporters(app, ["senior1", "senior2", "senior3", "senior4"], write_first=True)
    await age(app, "senior1", "senior2", "senior3", "senior4")
    for client in clients:
        await report(client, announcement)
    assert not await hidden(app, announcement)


async def test_the_queue_shows_which_reports_came_from_new_accounts(app: Quart) -> None:
    moderator = await member(app, "mod", moderator=True)
    writer = await member(app, "writer")
    target = await write(writer, "a reported message")
    old, new = await reporters(app, ["oldtimer", "newcomer"], write_first=True)
    await age(app, "oldtimer")
    await report(old, target)
    await report(new, target)
    html = await page_text(await moderator.get("/moderation"))
    newcomer = html.split("newcomer", 1)[1].split("</li>", 1)[0]
    oldtimer = html.split("oldtimer", 1)[1].split("</li>", 1)[0]
    assert "new account" in newcomer
    assert "new account" not in oldtimer


async def test_an_edit_after_a_decision_reopens_reporting(app: Quart) -> None:
    moderator = await member(app, "mod", moderator=True)
    writer = await member(app, "writer")
    target = await write(writer, "a fair message")
    [reporter] = await reporters(app, ["watcher"], write_first=True)
    await report(reporter, target)
    keep = await moderator.post(f"/messages/{target}/unhide", form={"reason": "fine"})
    assert keep.status_code == 302
    again = await reporter.post(f"/messages/{target}/report", form={"reason": "still"})
    assert "already reported" in await page_text(await reporter.get(again.location))

    edited = await writer.post(f"/messages/{target}/edit", form={"body": "now something else"})
    assert edited.status_code == 302
    response = await reporter.post(f"/messages/{target}/report", form={"reason": "switched"})
    assert "A moderator will look at it" in await page_text(await reporter.get(response.location))


async def test_a_hidden_message_cannot_be_edited_by_its_writer(app: Quart) -> None:
    moderator = await member(app, "mod", moderator=True)
    writer = await member(app, "writer")
    target = await write(writer, "before the hide")
    assert (await moderator.post(f"/messages/{target}/hide", form={})).status_code == 302
    response = await writer.post(f"/messages/{target}/edit", form={"body": "after the hide"})
    assert response.status_code == 403
    assert (await writer.get(f"/messages/{target}/edit")).status_code == 403
    async with db.sessionmaker(app)() as session:
        body = await session.scalar(select(Message.body).where(Message.id == target))
    assert body == "before the hide"
