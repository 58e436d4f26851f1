"""Accessibility: axe-core finds nothing serious on any main page, every input has a
label, and a keyboard alone can sign up and post."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from .visitor import MainPage, assert_accessible, new_name

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]


async def test_axe_finds_nothing_serious_and_every_input_is_labelled(
    main_page: MainPage, opened_page: Page, axe_source: str
) -> None:
    await assert_accessible(opened_page, axe_source, main_page.name)


async def tab_to(page: Page, selector: str, limit: int = 20) -> None:
    """Presses Tab until `selector` has the focus; every stop must show a focus ring."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused, ring, on_body = await page.evaluate(
            """(selector) => [document.activeElement.matches(selector),
                              getComputedStyle(document.activeElement).outlineStyle,
                              document.activeElement === document.body]""",
            selector,
        )
        # Past the last control, focus leaves for the browser's own UI and the document
        # itself reports as focused: nothing of ours to ring.
        assert on_body or ring != "none", (
            f"no visible focus on {await page.evaluate('document.activeElement.outerHTML')}"
        )
        if focused:
            return
    raise AssertionError(f"{limit} Tabs never reached {selector}")


async def test_keyboard_alone_signs_up_and_posts(page: Page) -> None:
    name = new_name("keys")
    await page.goto("/auth/signup")
    # The first Tab reaches "Skip to content", which jumps past the menu to the form.
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    for label, typed in [
        ("Username", name),
        ("Email", f"{name}@example.com"),
        ("Password", "typed by keys only"),
        ("Password again", "typed by keys only"),
    ]:
        await page.keyboard.press("Tab")
        await expect(page.get_by_label(label, exact=True)).to_be_focused()
        await page.keyboard.type(typed)
    await page.keyboard.press("Enter")
    await expect(page.locator("p.welcome")).to_contain_text(f"Welcome, {name}!")

    await tab_to(page, "#popup-skip")
    await page.keyboard.press("Enter")
    await expect(page.locator("#popup")).to_be_hidden()
    await tab_to(page, "textarea#body")
    await page.keyboard.type("Written without a mouse.")
    await tab_to(page, "form.write button[type=submit]", limit=1)
    await page.keyboard.press("Enter")
    await expect(page.locator("li.message", has_text="Written without a mouse.")).to_have_count(1)
