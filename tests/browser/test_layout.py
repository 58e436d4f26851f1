"""Every main page at desktop and phone widths: a screenshot for people to look at,
nothing wider than the screen, and a menu bar whose every item can be seen and hit."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from .visitor import MainPage, menu

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]

WIDTHS = (1280, 375)  # a desktop, a phone


async def test_page_fits_desktop_and_phone_and_the_menu_is_usable(
    main_page: MainPage, opened_page: Page, request: pytest.FixtureRequest
) -> None:
    page = opened_page
    shots = request.config.rootpath / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        where = f"{main_page.name} at {width} px"
        await page.set_viewport_size({"width": width, "height": 800})
        await page.screenshot(path=shots / f"{main_page.name}-{width}.png", full_page=True)

        scroll_width, inner_width = await page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert scroll_width <= inner_width, f"{where}: the page scrolls sideways"

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
