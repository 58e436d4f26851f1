"""The lecture walked in a real browser, as a new visitor: the popup cookie, signup,
the menu bar, messages, logging out and in, a password reset by mail, and revoking a
session from another browser."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from support import SMTPTestServer

from . import visitor
from .visitor import NewContext, Site, expect_logged_in_menu, expect_logged_out_menu, menu, new_name

RESET_LINK = re.compile(r"https?://\S+/auth/reset/\S+")

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]


async def test_first_visit_popup_cookie_signup_and_menu(page: Page) -> None:
    skip_posts: list[str] = []
    page.on("request", lambda r: skip_posts.append(r.url) if "/popup/skip" in r.url else None)
    await page.goto("/")
    popup = page.get_by_role("dialog", name="Notice")
    await expect(popup).to_be_visible()

    await popup.get_by_role("button", name="Don't show again").click()
    await expect(popup).to_be_hidden()
    assert skip_posts == [], "popup.js should close it in place, without the form's round trip"
    assert "popup_skip=yes" in (await page.evaluate("document.cookie")).split("; ")
    await page.reload()
    await expect(page.locator("#popup")).to_have_count(0)  # the server read the cookie

    name = new_name()
    await expect_logged_out_menu(page, name)
    await visitor.sign_up(page, name)
    assert page.url.endswith("/")
    await expect_logged_in_menu(page, name)
    await expect(page.locator("header .countdown")).to_contain_text(re.compile(r"D[-+]\w+"))

    # The login and session cookies exist but scripts cannot read them (HttpOnly).
    jar = {cookie["name"]: cookie for cookie in await page.context.cookies()}
    assert jar["gb_session"]["httpOnly"] and jar["gb_login"]["httpOnly"]
    assert not jar["popup_skip"]["httpOnly"]
    script_view = await page.evaluate("document.cookie")
    assert "gb_session" not in script_view and "gb_login" not in script_view

    await visitor.log_out(page)
    await expect_logged_out_menu(page, name)
    await expect(page.locator("p.welcome")).to_have_count(0)
    await visitor.log_in(page, name)
    await expect_logged_in_menu(page, name)
    await expect(page.locator("#popup")).to_have_count(0)


async def test_post_see_on_profile_edit_and_delete(page: Page) -> None:
    name = new_name()
    await visitor.sign_up(page, name)
    body = f"Hello from {name}, in a real browser."
    message_id = await visitor.post(page, body)
    await expect(page.locator(f"#m{message_id} .body")).to_have_text(body)

    await menu(page).get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    mine = page.locator(f"#m{message_id}")
    await expect(mine.locator(".body")).to_have_text(body)

    await mine.get_by_role("link", name="Edit").click()
    await page.get_by_label("Message").fill(body + " Edited.")
    await page.get_by_role("button", name="Save").click()
    mine = page.locator(f"#m{message_id}")
    await expect(mine.locator(".body")).to_have_text(body + " Edited.")
    await expect(mine.locator(".edited")).to_have_text("edited")

    await mine.get_by_role("button", name="Delete").click()
    await expect(page.locator(".flashes")).to_contain_text("Deleted.")
    await expect(page.locator(f"#m{message_id}")).to_have_count(0)
    await page.goto(f"/users/{name}")
    await expect(page.locator(".empty")).to_contain_text("has not written anything yet")


async def test_revoked_session_is_logged_out_on_its_next_page(
    page: Page, new_context: NewContext
) -> None:
    name = new_name()
    await visitor.sign_up(page, name)
    other = await (await new_context()).new_page()
    await visitor.log_in(other, name)

    for browser_page in (page, other):
        await browser_page.goto("/account/sessions")
        await expect(browser_page.locator("table.sessions tbody tr")).to_have_count(2)
    await page.locator("tbody tr:not(.current)").get_by_role("button", name="Sign out").click()
    await expect(page.locator(".flashes")).to_contain_text("That session is signed out.")
    await expect(page.locator("table.sessions tbody tr")).to_have_count(1)

    await other.reload()
    await expect(other).to_have_url(re.compile(r"/auth/login\?next=/account/sessions$"))
    await expect_logged_out_menu(other, name)
    await page.goto("/")  # the revoking browser stays logged in
    await expect_logged_in_menu(page, name)


async def reset_link(smtp: SMTPTestServer, address: str) -> str:
    """The link in the reset mail to `address`, waiting for it to arrive (the welcome
    mail to the same address may come before or after it)."""
    seen = 0
    while True:
        mails = await smtp.wait_async(seen + 1)  # waits (up to 10 s) for one more mail
        for mail in mails[seen:]:
            link = RESET_LINK.search(mail.get_body(preferencelist=("plain",)).get_content())
            if address in mail["To"] and link:
                return link.group(0)
        seen = len(mails)


async def test_forgot_password_by_mail(page: Page, live_server: Site) -> None:
    name = new_name()
    await visitor.sign_up(page, name)
    await visitor.log_out(page)

    await page.goto("/auth/login")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email").fill(f"{name}@example.com")
    await page.get_by_role("button", name="Mail me a link").click()
    await expect(page.get_by_role("status")).to_contain_text("on its way")

    link = await reset_link(live_server.smtp, f"{name}@example.com")
    assert link.startswith(live_server.url + "/auth/reset/")
    await page.goto(link)
    new_password = "a brand new secret"
    await page.get_by_label("New password", exact=True).fill(new_password)
    await page.get_by_label("New password again").fill(new_password)
    await page.get_by_role("button", name="Set password and log in").click()
    await expect(page.locator(".flashes")).to_contain_text("Your password is reset")
    await expect_logged_in_menu(page, name)

    await visitor.log_out(page)
    await page.goto("/auth/login")
    await page.get_by_label("Username or email").fill(name)
    await page.get_by_label("Password", exact=True).fill(visitor.PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await visitor.log_in(page, name, new_password)
