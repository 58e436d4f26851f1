"""The report form sends its reporter back only within the site, and every moderation
entry about a message names the message's writer."""

from __future__ import annotations

import re

import pytest
from quart import Quart

from guestbook import db
from guestbook.models import User
from support import audit_log, member, page_text, write


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
async def test_the_report_forms_next_stays_on_the_site(app: Quart, target: str) -> None:
    writer = await member(app, "writer")
    message_id = await write(writer, "reported")
    reporter = await member(app, "reporter")
    html = await page_text(
        await reporter.get(f"/messages/{message_id}/report", query_string={"next": target})
    )
    [form] = re.findall(r'<form method="post" class="card">(.*?)</form>', html, re.S)
    assert re.findall(r'name="next" value="([^"]*)"', form) == ["/"]
    # Elsewhere on the page (the language switch) `next` is this page's own path.
    values = re.findall(r'name="next" value="([^"]*)"', html)
    assert all(value.startswith("/") and not value.startswith(("//", "/\\")) for value in values)
    links = re.findall(r'<a[^>]+href="([^"]*)"', html)
    assert "evil" not in " ".join(links) and "javascript" not in " ".join(links)


async def test_an_audit_entry_names_the_messages_writer(app: Quart) -> None:
    writer = await member(app, "writer")
    message_id = await write(writer, "to be hidden")
    moderator = await member(app, "mod", moderator=True)
    assert (
        await moderator.post(f"/messages/{message_id}/hide", form={"reason": "r"})
    ).status_code == 302
    [entry] = await audit_log(app)
    assert entry.message_id == message_id
    writer_id = entry.user_id
    assert writer_id is not None
    async with db.sessionmaker(app)() as session:
        assert (await session.get(User, writer_id)).username == "writer"
