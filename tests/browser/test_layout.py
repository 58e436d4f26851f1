"""Every main page in both languages at desktop and phone widths: a screenshot for
people to look at, nothing wider than the screen, no label or button whose text
overflows it, a menu bar whose every item can be seen and hit, and a message's
controls on one line with its writer and time on a desktop. A formatted message fits a
phone too: its code block scrolls sideways, within the message."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from .conftest import Member
from .visitor import MainPage, NewContext, Site, assert_accessible, menu, new_name, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]

WIDTHS = (1280, 375)  # a desktop, a phone


# Every element whose text would be cut off or run over its neighbours if it did not
# fit: what it shows (scrollWidth) must fit in its own box and its box in the window.
# Text cut with an ellipsis on purpose (the menu's long username) is not overflow.
OVERFLOWING = """() => [...document.querySelectorAll(
    "label, button, a, h1, h2, th, td, small, .countdown, .flashes li, .error")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => getComputedStyle(el).textOverflow !== "ellipsis")
  .filter((el) => el.scrollWidth > el.clientWidth + 1
      || el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .map((el) => el.outerHTML.slice(0, 120))"""


async def test_page_fits_desktop_and_phone_and_the_menu_is_usable(
    main_page: MainPage, language: str, opened_page: Page, request: pytest.FixtureRequest
) -> None:
    page = opened_page
    shots = request.config.rootpath / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        where = f"{main_page.name} in {language} at {width} px"
        await page.set_viewport_size({"width": width, "height": 800})
        await page.screenshot(
            path=shots / f"{main_page.name}-{language}-{width}.png", full_page=True
        )

        scroll_width, inner_width = await page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll_width <= inner_width, f"{where}: the page scrolls sideways"
        assert await page.evaluate(OVERFLOWING) == [], f"{where}: text overflows its box"

        items = menu(page).locator("a, button")
        assert await items.count() >= 3, where  # the brand and two account items at least
        for item in await items.all():
            label = f"{where}: menu item {await item.text_content()!r}"
            box = await item.bounding_box()
            assert box is not None, f"{label} is not shown"
            assert box["x"] >= 0 and box["x"] + box["width"] <= inner_width, f"{label} is cut off"
            # WCAG 2.2's minimum target size; the trial click checks nothing covers it.
            assert box["width"] >= 24 and box["height"] >= 24, f"{label} is too small to hit"
            await item.click(trial=True)


async def test_a_messages_controls_stand_on_one_line_with_its_writer_and_time(
    new_context: NewContext, member: Member, language: str, live_server: Site
) -> None:
    context = await new_context(
        viewport={"width": 1280, "height": 800}, storage_state=member.storage_state
    )
    await context.add_cookies([{"name": "lang", "value": language, "url": live_server.url}])
    page = await context.new_page()
    await page.goto(f"/users/{member.name}")
    item = page.locator(f"#m{member.message_id}")
    meta, actions = item.locator(".meta"), item.locator(".actions")
    lines = {
        "writer and time": [meta.locator("a").first, meta.locator("time")],
        "replies, likes, Like, Edit and Delete": [
            actions.locator("a.replies"),
            actions.locator(".likes"),
            actions.get_by_role("button", name=re.compile("^(Like|좋아요)$")),
            actions.get_by_role("link", name=re.compile("^(Edit|수정)$")),
            actions.get_by_role("button", name=re.compile("^(Delete|삭제)$")),
        ],
    }
    for what, parts in lines.items():
        boxes = [await part.bounding_box() for part in parts]
        assert all(boxes), f"{what}: all shown"
        tops = [box["y"] for box in boxes if box]
        # One line: every box starts within a few pixels of the others (text baselines
        # differ slightly between a link and a button).
        assert max(tops) - min(tops) < 6, f"{language}: {what} not on one line: {tops}"


async def test_a_formatted_message_fits_a_phone_and_its_code_block_scrolls(
    page: Page, axe_source: str, request: pytest.FixtureRequest
) -> None:
    name = new_name("fmt")
    await sign_up(page, name)
    await page.set_viewport_size({"width": 375, "height": 800})
    body = (
        f"Code from **{name}**, see [the docs](https://example.com/docs):\n\n"
        "- one\n- two\n\n> quoted\n\n```\nlong_line = '" + "x" * 150 + "'\n```"
    )
    await page.get_by_label("Write a message").fill(body)
    await page.get_by_role("button", name="Post").click()
    await page.goto("/")  # without the "Posted." flash: the page as anyone sees it
    message = page.locator("li.message", has_text=f"Code from {name}")
    await expect(message.locator("strong")).to_have_text(name)
    link = message.get_by_role("link", name="the docs")
    await expect(link).to_have_attribute("rel", "nofollow ugc noopener")
    await expect(message.locator("li")).to_have_text(["one", "two"])
    await page.screenshot(
        path=request.config.rootpath / "test-artifacts" / "screenshots" / "formatted-375.png",
        full_page=True,
    )

    code = message.locator("pre")
    scroll_width, client_width = await code.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert scroll_width > client_width, "the long line scrolls inside its block"
    code_box, message_box = await code.bounding_box(), await message.bounding_box()
    assert code_box and message_box
    assert code_box["x"] + code_box["width"] <= message_box["x"] + message_box["width"]
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await assert_accessible(page, axe_source, "a formatted message")  # its block is focusable
