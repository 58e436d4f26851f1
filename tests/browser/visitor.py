"""The site under test, its main pages, a visitor's moves through the real forms, and
what the menu bar should show."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playwright.async_api import BrowserContext, Locator, Page, expect

from servers import GUESTBOOK
from support import SMTPTestServer

PASSWORD = "correct horse battery"

NewContext = Callable[..., Awaitable[BrowserContext]]


@dataclass(frozen=True)
class Site:
    """The live server under test."""

    url: str
    smtp: SMTPTestServer  # every mail the site sends
    env: dict[str, str]  # the server's environment, for `guestbook` commands on its database


@dataclass(frozen=True)
class MainPage:
    name: str
    path: str  # may name the member's {name} and {message_id}
    as_member: bool = False
    status: int = 200


MAIN_PAGES = [
    MainPage("index", "/", as_member=True),  # the popup, the write form and a message
    MainPage("signup", "/auth/signup"),
    MainPage("login", "/auth/login"),
    MainPage("forgot", "/auth/forgot"),
    MainPage("profile", "/users/{name}", as_member=True),
    MainPage("account", "/account", as_member=True),
    MainPage("sessions", "/account/sessions", as_member=True),
    MainPage("password", "/account/password", as_member=True),
    MainPage("edit", "/messages/{message_id}/edit", as_member=True),
    MainPage("message", "/messages/{message_id}", as_member=True),
    MainPage("error", "/users/no-such-member", status=404),
]


LANGUAGES = ("en", "ko")
MENU_NAME = re.compile("^(Main|주 메뉴)$")  # the menu bar's accessible name, in either


def new_name(prefix: str = "v") -> str:
    """A username no other test has taken on the shared live server."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name=MENU_NAME)


async def sign_up(page: Page, name: str, password: str = PASSWORD) -> None:
    await page.goto("/auth/signup")
    await page.get_by_label("Username").fill(name)
    await page.get_by_label("Email").fill(f"{name}@example.com")
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_label("Password again").fill(password)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.locator("p.welcome")).to_contain_text(f"Welcome, {name}!")


async def log_in(page: Page, name: str, password: str = PASSWORD) -> None:
    await page.goto("/auth/login")
    await page.get_by_label("Username or email").fill(name)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("p.welcome")).to_contain_text(f"Welcome, {name}!")


async def log_out(page: Page) -> None:
    await menu(page).get_by_role("button", name="Log out").click()
    await expect(menu(page).get_by_role("link", name="Log in")).to_be_visible()


async def post(page: Page, body: str) -> int:
    """Posts from the main page; returns the new message's id."""
    await page.goto("/")
    await page.get_by_label("Write a message").fill(body)
    await page.get_by_role("button", name="Post").click()
    message = page.locator("li.message", has_text=body)
    await expect(message).to_have_count(1)
    return int((await message.get_attribute("id") or "").removeprefix("m"))


async def expect_logged_in_menu(page: Page, name: str) -> None:
    await expect(menu(page).get_by_role("link", name=name)).to_be_visible()
    await expect(menu(page).get_by_role("button", name="Log out")).to_be_visible()
    await expect(menu(page).get_by_role("link", name="Sign up")).to_have_count(0)
    await expect(menu(page).get_by_role("link", name="Log in")).to_have_count(0)


async def expect_logged_out_menu(page: Page, name: str) -> None:
    await expect(menu(page).get_by_role("link", name="Sign up")).to_be_visible()
    await expect(menu(page).get_by_role("link", name="Log in")).to_be_visible()
    await expect(menu(page).get_by_role("link", name=name)).to_have_count(0)
    await expect(menu(page).get_by_role("button", name="Log out")).to_have_count(0)


BLOCKING_IMPACTS = ("serious", "critical")


async def assert_accessible(page: Page, axe_source: str, where: str) -> None:
    """axe-core finds nothing serious on the page, and every input has a label."""
    # evaluate() is not subject to the page's Content-Security-Policy, so the CSP stays
    # as served (a <script> tag would need it switched off).
    await page.evaluate(axe_source)
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    blocking = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} "
        f"at {[node['target'] for node in violation['nodes']]}"
        for violation in results["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]
    assert blocking == [], f"{where}: axe-core reports\n" + "\n".join(blocking)

    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll("input:not([type=hidden]), textarea, select")]
            .filter((el) => ![...el.labels].some((label) => label.textContent.trim()))
            .map((el) => el.outerHTML)"""
    )
    assert unlabelled == [], f"{where}: inputs without a label"


async def promote(site: Site, name: str) -> None:
    """`guestbook promote NAME` on the live server's database, as its owner would."""
    process = await asyncio.create_subprocess_exec(
        str(GUESTBOOK), "promote", name, env=site.env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0 and b"now a moderator" in out, out


async def member_page(new_context: NewContext, name: str) -> Page:
    page = await (await new_context()).new_page()
    await sign_up(page, name)
    return page
