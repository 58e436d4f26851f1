"""Members report messages; enough distinct reports hide one until a moderator decides."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select

from guestbook import db
from guestbook.models import AuditEntry, Message, Report
from support import AuthActions, audit_log, member, page_text, write


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signup_limit": 1000}


async def reports(app: Quart) -> list[Report]:
    async with db.sessionmaker(app)() as session:
        return list(await session.scalars(select(Report).order_by(Report.id)))


async def hidden(app: Quart, message_id: int) -> bool:
    async with db.sessionmaker(app)() as session:
        return (await session.get(Message, message_id)).hidden_at is not None


@pytest.fixture
async def target(app: Quart) -> int:
    writer = await member(app, "writer")
    return await write(writer, "a rude message")


async def test_the_report_form_shows_the_message_and_comes_back(app: Quart, target: int):
    alice = await member(app, "alice")
    form = await alice.get(f"/messages/{target}/report?next=/users/writer")
    assert form.status_code == 200
    page = await page_text(form)
    assert "a rude message" in page and 'name="reason"' in page
    assert 'name="next" value="/users/writer"' in page

    response = await alice.post(
        f"/messages/{target}/report", form={"reason": "rude", "next": "/users/writer"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/users/writer"
    [report] = await reports(app)
    assert (report.message_id, report.reason, report.resolved_at) == (target, "rude", None)
    assert "A moderator will look at it." in await page_text(await alice.get("/"))


async def test_a_member_reports_a_message_once(app: Quart, target: int):
    alice = await member(app, "alice")
    await alice.post(f"/messages/{target}/report", form={"reason": "rude"})
    again = await alice.post(f"/messages/{target}/report", form={"reason": "still rude"})
    assert again.status_code == 302
    assert "already reported" in await page_text(await alice.get("/"))
    assert [r.reason for r in await reports(app)] == ["rude"]


async def test_the_reason_is_optional_and_an_overlong_one_keeps_what_was_typed(
    app: Quart, target: int
):
    alice = await member(app, "alice")
    typed = "x" * 301
    response = await alice.post(f"/messages/{target}/report", form={"reason": typed})
    assert response.status_code == 400
    page = await page_text(response)
    assert "At most 300 characters" in page and f'value="{typed}"' in page
    assert await reports(app) == []
    assert (await alice.post(f"/messages/{target}/report", form={})).status_code == 302
    assert [r.reason for r in await reports(app)] == [""]


async def test_who_may_report_what(app: Quart, target: int):
    writer_again = app.test_client()
    await AuthActions(writer_again).login("writer", "correct horse")
    own = await writer_again.post(f"/messages/{target}/report", form={})
    assert own.status_code == 403
    anonymous = await app.test_client().post(f"/messages/{target}/report", form={})
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/auth/login")
    alice = await member(app, "alice")
    assert (await alice.post("/messages/999999/report", form={})).status_code == 404
    forged = await alice.post(f"/messages/{target}/report", form={}, csrf=False)
    assert forged.status_code == 400
    assert await reports(app) == []


@pytest.mark.parametrize("threshold", [1, 3])
async def test_the_threshold_of_distinct_members_hides_the_message(
    app: Quart, target: int, threshold: int
):
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(report_hide_threshold=threshold)
    reader = app.test_client()
    assert "a rude message" in await page_text(await reader.get("/"))  # cached now
    for n in range(1, threshold + 1):
        client = await member(app, f"reporter{n}")
        await client.post(f"/messages/{target}/report", form={"reason": f"r{n}"})
        assert await hidden(app, target) == (n == threshold), n
    assert "a rude message" not in await page_text(await reader.get("/"))
    [entry] = await audit_log(app)
    assert (entry.actor, entry.actor_id, entry.action) == ("(reports)", None, "hide")
    assert entry.reason == f"{threshold} members reported it"
    # Hidden: no one else can report it (it is not there for them).
    late = await member(app, "late")
    assert (await late.post(f"/messages/{target}/report", form={})).status_code == 404


async def test_threshold_zero_never_hides(app: Quart, target: int):
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(report_hide_threshold=0)
    for n in range(5):
        client = await member(app, f"reporter{n}")
        await client.post(f"/messages/{target}/report", form={})
    assert not await hidden(app, target)
    assert len(await reports(app)) == 5


async def test_a_burst_of_reports_at_once_hides_it_exactly_once(app: Quart, target: int):
    """Reports on one message count one after another: three at once reach the
    threshold of three, and the message is hidden once (one audit entry)."""
    clients = [await member(app, f"burst{n}") for n in range(3)]
    for client in clients:  # each has its CSRF token before the burst
        await client.csrf_token()
    answers = await asyncio.gather(
        *(c.post(f"/messages/{target}/report", form={"reason": "burst"}) for c in clients)
    )
    assert [a.status_code for a in answers] == [302, 302, 302]
    assert await hidden(app, target)
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1


async def test_a_moderator_decision_answers_the_reports(app: Quart, target: int):
    """Keeping a reported message closes its reports: only new ones count again."""
    mod = await member(app, "mod", moderator=True)
    for n in range(2):
        client = await member(app, f"first{n}")
        await client.post(f"/messages/{target}/report", form={})
    page = await page_text(await mod.get("/moderation"))
    assert f'id="reported-{target}"' in page
    await mod.post(f"/messages/{target}/unhide", form={"reason": "it is fine"})
    assert all(r.resolved_at is not None for r in await reports(app))
    assert f'id="reported-{target}"' not in await page_text(await mod.get("/moderation"))
    assert [e.action for e in await audit_log(app)] == ["keep"]

    client = await member(app, "second")
    await client.post(f"/messages/{target}/report", form={})
    assert not await hidden(app, target)  # 1 open report, not 3


async def test_a_message_hidden_by_reports_waits_for_a_moderator(app: Quart, target: int):
    mod = await member(app, "mod", moderator=True)
    for n in range(3):
        client = await member(app, f"rep{n}")
        await client.post(f"/messages/{target}/report", form={"reason": f"reason {n}"})
    page = await page_text(await mod.get("/moderation"))
    reported = page.split('id="recent-title"')[0]
    assert "a rude message" in reported and "Keep hidden" in reported
    assert all(f"rep{n}: reason {n}" in reported for n in range(3))
    await mod.post(f"/messages/{target}/unhide", form={})
    assert not await hidden(app, target)
    assert "a rude message" in await page_text(await app.test_client().get("/"))
