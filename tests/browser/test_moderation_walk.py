"""The owner's tools in a real browser: a member reports a message, a moderator hides
it from the moderation page and blocks its writer, who is logged out at once and
cannot log in again."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from . import visitor
from .test_live import not_reloaded, open_live
from .visitor import (
    NewContext,
    Site,
    assert_accessible,
    expect_logged_out_menu,
    member_page,
    menu,
    new_name,
    promote,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]


async def test_report_hide_and_block(
    page: Page,
    new_context: NewContext,
    live_server: Site,
    axe_source: str,
    request: pytest.FixtureRequest,
) -> None:
    writer_name, reporter_name, mod_name = new_name("w"), new_name("r"), new_name("m")
    writer = page
    await visitor.sign_up(writer, writer_name)
    body = f"Buy cheap watches from {writer_name}"
    message_id = await visitor.post(writer, body)
    kept = await visitor.post(writer, f"An ordinary note from {writer_name}")

    # A member reports it, with a reason, and comes back to the main page.
    reporter = await member_page(new_context, reporter_name)
    await reporter.goto("/")
    await reporter.locator(f"#m{message_id}").get_by_role("link", name="Report").click()
    await expect(reporter.get_by_role("heading", level=1)).to_have_text("Report a message")
    await assert_accessible(reporter, axe_source, "report")
    await reporter.get_by_label("Why? (optional)").fill("advertising")
    await reporter.get_by_role("button", name="Report").click()
    await expect(reporter.locator(".flashes")).to_contain_text("A moderator will look at it.")
    assert reporter.url.endswith("/")

    # Someone else keeps the main page open: what follows reaches it without a reload.
    watcher = await (await new_context()).new_page()
    await open_live(watcher)

    # The moderator finds it first on the moderation page, and hides it from there.
    moderator = await member_page(new_context, mod_name)
    await promote(live_server, mod_name)
    await moderator.reload()
    await menu(moderator).get_by_role("link", name="Moderation").click()
    reported = moderator.locator(f"#reported-{message_id}")
    await expect(reported).to_contain_text(body)
    await expect(reported).to_contain_text(f"{reporter_name}: advertising")
    await assert_accessible(moderator, axe_source, "moderation")
    hide = reported.locator("form", has=moderator.get_by_role("button", name="Hide", exact=True))
    await hide.get_by_label("Reason (optional)").fill("spam")
    await hide.get_by_role("button").click()
    await expect(moderator.locator(".flashes")).to_contain_text("The message is hidden.")
    await expect(moderator.locator(f"#reported-{message_id}")).to_have_count(0)
    await expect(watcher.locator(f"#m{message_id}")).to_have_count(0)

    # Gone for everyone else; its writer sees it marked on their own profile.
    for viewer in (reporter, await (await new_context()).new_page()):
        await viewer.goto("/")
        await expect(viewer.locator(f"#m{kept}")).to_have_count(1)
        await expect(viewer.locator(f"#m{message_id}")).to_have_count(0)
    await writer.goto(f"/users/{writer_name}")
    await expect(writer.locator(f"#m{message_id} .hidden-mark")).to_be_visible()

    # Blocked from the profile, with the rest of their messages hidden too.
    await moderator.goto(f"/users/{writer_name}")
    await assert_accessible(moderator, axe_source, "profile, as a moderator")
    await moderator.get_by_label("Reason (optional)").fill("spammer")
    await moderator.get_by_label("Also hide their messages").check()
    await moderator.get_by_role("button", name=f"Block {writer_name}").click()
    await expect(moderator.locator(".flashes")).to_contain_text("blocked and logged out")
    await expect(moderator.locator(".blocked-mark")).to_have_text("blocked")
    await expect(moderator.locator(f"#m{kept}")).to_have_count(0)
    await expect(watcher.locator(f"#m{kept}")).to_have_count(0)

    # The writer's open page is logged out on its next request, and login says why.
    await writer.reload()
    await expect_logged_out_menu(writer, writer_name)
    await writer.goto("/auth/login")
    await writer.get_by_label("Username or email").fill(writer_name)
    await writer.get_by_label("Password", exact=True).fill(visitor.PASSWORD)
    await writer.get_by_role("button", name="Log in").click()
    await expect(writer.locator(".error-page")).to_contain_text("has blocked this account")

    # Both actions are in the audit log, with who, what, on what and why; the page fits
    # a phone.
    await moderator.set_viewport_size({"width": 375, "height": 800})
    await moderator.goto("/moderation")
    width, screen = await moderator.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert width <= screen, "the moderation page scrolls sideways on a phone"
    shots = request.config.rootpath / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    await moderator.screenshot(path=shots / "moderation-375.png", full_page=True)
    rows = moderator.locator("table.audit tbody tr")
    await expect(rows.nth(0)).to_contain_text(
        re.compile(rf"{mod_name}\s*Blocked, messages hidden\s*member {writer_name}\s*spammer")
    )
    await expect(rows.nth(1)).to_contain_text(
        re.compile(rf"{mod_name}\s*Hidden\s*message {message_id}: Buy cheap[^\n]*\s*spam\s*$")
    )

    # Unblocked with what the block hid: the open page gets it back in its place.
    await moderator.goto(f"/users/{writer_name}")
    await moderator.get_by_label("Also show the messages the block hid").check()
    await moderator.get_by_role("button", name=f"Unblock {writer_name}").click()
    await expect(moderator.locator(".flashes")).to_be_visible()
    await expect(watcher.locator(f"#m{kept}")).to_have_count(1)
    await expect(watcher.locator(f"#m{message_id}")).to_have_count(0)  # hidden on its own
    await not_reloaded(watcher)
