"""A member's main page after a post, put together from its shell (`messages.shells`):
the same bytes a render gives, and rendered again whenever anything around the list
may have changed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import update

from guestbook import db
from guestbook.messages import shells
from guestbook.messages.shells import Shell
from guestbook.models import MODERATOR, User
from support import bodies, member, page_text, seen_by, serving, write


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "page_size": 2}  # an older page after three messages


@pytest.fixture
async def fresh(app: Quart) -> AsyncIterator[Quart]:
    """A second instance with the same settings (the same secret key: the same logins)
    on the same database, whose pages are all rendered anew."""
    async with serving(app.config["SETTINGS"]) as second:
        yield second


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The templates `shells.render` had to render whole."""
    seen: list[str] = []
    render_template = shells.render_template

    async def counted(template: str, **context: object) -> str:
        seen.append(template)
        return await render_template(template, **context)

    monkeypatch.setattr(shells, "render_template", counted)
    return seen


def live_after(page: str) -> str:
    return re.search(r'data-live-after="(\d*)"', page)[1]


async def test_a_members_page_after_a_post_is_its_shell_with_the_new_list(
    app, fresh, renders
) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    await write(bob, "first")
    await seen_by(alice)  # the welcome flash: shown once, this page is not kept
    before = await seen_by(alice)
    assert renders == ["index.html", "index.html"]

    await write(bob, "second")
    renders.clear()
    after = await seen_by(alice)
    assert renders == []  # put together from the shell
    assert bodies(after) == ["second", "first"]
    assert int(live_after(after)) > int(live_after(before))

    # Byte for byte what a render gives: the same member on an instance with no shell.
    again = fresh.test_client()
    again.cookie_jar = alice.cookie_jar
    assert await seen_by(again) == after


@pytest.mark.parametrize("case", ["moderator", "promoted", "notice skipped", "older page"])
async def test_a_page_from_its_shell_is_what_a_render_gives(app, fresh, case) -> None:
    """Whatever of the page the shell holds follows the member: compared after a post
    with the same member's page on an instance that renders it."""
    alice = await member(app, "alice", moderator=case == "moderator")
    bob = await member(app, "bob")
    for n in range(3):  # two pages of two
        await write(bob, f"older {n}")
    path = "/"
    if case == "older page":
        path = re.search(r'href="(/\?before=[^"]+)"', await seen_by(alice))[1]
    await seen_by(alice, path)
    await seen_by(alice, path)  # kept, and its shell cut
    if case == "promoted":
        async with db.sessionmaker(app)() as session:
            await session.execute(
                update(User).where(User.username == "alice").values(role=MODERATOR)
            )
            await session.commit()
    elif case == "notice skipped":
        await alice.post("/popup/skip", form={"next": "/"})
    await write(bob, "newest")
    page = await seen_by(alice, path)
    again = fresh.test_client()
    again.cookie_jar = alice.cookie_jar
    assert await seen_by(again, path) == page
    assert ("/moderation" in page) == (case in ("moderator", "promoted"))
    assert ('id="popup"' in page) == (case != "notice skipped")
    assert ("newest" in page) == (case != "older page")


async def test_what_the_shell_does_not_hold_renders_the_page_again(app, renders) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    await seen_by(alice)
    await seen_by(alice)
    renders.clear()
    # Another page (a query string), the other language, a flash: each rendered whole.
    await seen_by(alice, "/?x=1")
    await alice.post("/lang", form={"lang": "ko", "next": "/"})
    korean = await seen_by(alice)
    assert '<html lang="ko">' in korean
    await write(alice, "mine")  # "Posted." waits in the session
    flashed = await seen_by(alice)
    assert "<li>글을 올렸습니다.</li>" in flashed
    assert renders == ["index.html"] * 3
    # A reader's page never has a shell: one render per post and worker serves them all.
    reader = app.test_client()
    await seen_by(reader)
    await write(bob, "another")
    await seen_by(reader)
    assert renders == ["index.html"] * 5


async def test_a_shell_is_cut_only_where_each_part_is_there_once() -> None:
    listed = '<ol class="messages"><li>hi</li></ol>'
    page = f'<p>menu</p><div data-live-after="7"><p>news</p>{listed}</div><footer>'
    shell = Shell.cut(page, "7", listed)
    assert shell is not None
    assert shell.fill("7", listed) == page
    assert shell.fill("9", "<p>none</p>") == (
        '<p>menu</p><div data-live-after="9"><p>news</p><p>none</p></div><footer>'
    )
    assert Shell.cut(page, "8", listed) is None  # not the position the page shows
    assert Shell.cut(page, "7", "<ol>elsewhere</ol>") is None
    assert Shell.cut(page + listed, "7", listed) is None  # twice: which one?
    assert Shell.cut(page.replace("<p>menu", 'data-live-after="7"<p>'), "7", listed) is None
    # No position yet (a worker that has read no event): an empty attribute.
    empty = page.replace('"7"', '""')
    assert Shell.cut(empty, "", listed).fill("", listed) == empty


async def test_a_page_from_its_shell_still_answers_a_conditional_get(app) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    await seen_by(alice)
    await seen_by(alice)
    await write(bob, "new")
    first = await alice.get("/")
    assert bodies(await page_text(first)) == ["new"]
    tag = first.headers["ETag"]
    assert (await alice.get("/", headers={"If-None-Match": tag})).status_code == 304
