"""A moderator's list carries Hide and Delete forms on every message, and their form
token: such a list must never be the one a member (or a reader) then receives."""

from __future__ import annotations

import re

from quart import Quart

from support import member, page_text, write


def token_in(html: str) -> set[str]:
    return set(re.findall(r'name="csrf_token" value="([^"]+)"', html))


async def test_a_moderators_list_never_reaches_a_member(app: Quart) -> None:
    writer = await member(app, "writer")
    await write(writer, "a message the moderator did not write")
    moderator = await member(app, "mod", moderator=True)
    onlooker = await member(app, "onlooker")
    moderators = await page_text(await moderator.get("/"))
    assert "/hide" in moderators  # their controls, on a message they did not write
    for visitor in (onlooker, app.test_client()):
        html = await page_text(await visitor.get("/"))
        assert "/hide" not in html and "/remove" not in html
        assert not token_in(moderators) & token_in(html)
