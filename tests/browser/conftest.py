"""Browser fixtures: the app under a real hypercorn, an SMTP test server, and chromium.

Playwright's async API runs on pytest-asyncio's event loop for this package (every
module marks its tests `asyncio(loop_scope="package")`), so one chromium serves all
browser tests, and they share one `pytest` run with the rest of the suite in any
order. Playwright cannot download browsers here: it drives Debian's `chromium` by path.

One live server and one member (signed up through the browser) serve the package and
stop when its last test is done; a test that changes an account makes its own visitor
with a fresh name.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from servers import LiveServer, migrate  # tests/ is on sys.path (pyproject's pythonpath)
from support import IN_CI, SMTPTestServer

from . import visitor
from .visitor import LANGUAGES, MAIN_PAGES, MainPage, NewContext, Site

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000  # a loaded 2-core CI machine is slow; nothing here should take this long
expect.set_options(timeout=TIMEOUT_MS)


def _missing(reason: str) -> NoReturn:
    """A missing tool skips on a developer's machine and fails in CI."""
    if IN_CI:
        pytest.fail(f"the browser tests need this in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app under `guestbook serve` (hypercorn) with a fresh SQLite database and a
    real SMTP server. Development mode, so cookies are not Secure over plain http."""
    workdir = tmp_path_factory.mktemp("browser-live")
    smtp = SMTPTestServer()
    smtp.start()
    env = {
        "GUESTBOOK_ENV": "development",
        "GUESTBOOK_SECRET_KEY": secrets.token_hex(32),
        "GUESTBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'guestbook.sqlite3'}",
        "GUESTBOOK_MAIL_BACKEND": "smtp",
        "GUESTBOOK_SMTP_HOST": smtp.host,
        "GUESTBOOK_SMTP_PORT": str(smtp.port),
        "GUESTBOOK_MAIL_POLL_SECONDS": "0.2",
        # Cheap hashing, and room for every test's visitors from one loopback address.
        "GUESTBOOK_ARGON2_TIME_COST": "1",
        "GUESTBOOK_ARGON2_MEMORY_KIB": "1024",
        **{f"GUESTBOOK_{limit}_LIMIT": "10000" for limit in ("LOGIN", "SIGNUP", "FORGOT")},
        # Playwright fills a signup form faster than a person: no render-time rule here.
        "GUESTBOOK_SIGNUP_MIN_SECONDS": "0",
    }
    try:
        migrate(env)
        server = LiveServer(workdir, env)
        server.env["GUESTBOOK_BASE_URL"] = server.url  # mailed links lead back here
        with server:
            yield Site(server.url, smtp, server.env)
    finally:
        smtp.stop()


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        _missing("chromium is not installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS
            )
        except PlaywrightError as exc:  # installed but broken: a failure everywhere
            pytest.fail(f"chromium at {executable} did not start: {exc}")
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="package")
async def new_context(browser: Browser, live_server: Site) -> AsyncIterator[NewContext]:
    """Makes fresh browser contexts (separate cookie jars) on the live server; all
    are closed after the test. Options go to `Browser.new_context`."""
    contexts: list[BrowserContext] = []

    async def make(**options: Any) -> BrowserContext:
        context = await browser.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


@pytest_asyncio.fixture(loop_scope="package")
async def page(new_context: NewContext) -> Page:
    """A new visitor: a page in a fresh context with no cookies."""
    return await (await new_context()).new_page()


@pytest.fixture(scope="package")
def axe_source(pytestconfig: pytest.Config) -> str:
    """axe-core's script, from npm (`make test` runs `npm install`)."""
    path = pytestconfig.rootpath / "node_modules" / "axe-core" / "axe.min.js"
    if not path.exists():
        _missing(f"axe-core is not installed at {path} (npm install)")
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Member:
    name: str
    message_id: int
    storage_state: dict[str, Any]  # the logged-in context's cookies, to open more pages as them


# A word longer than a phone is wide: the message list must wrap it, not overflow.
LONG_MESSAGE = "A message to test wrapping: " + "guestbook" * 40


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def member(browser: Browser, live_server: Site) -> Member:
    """One member with one long message, for the pages only members see. The name is
    the longest allowed and has no place to break a line (underscores), to test the
    room that the menu bar, the greeting and the profile's heading have on a phone."""
    context = await browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        name = visitor.new_name("member_with_a_long_name_")[:30]
        await visitor.sign_up(page, name)
        message_id = await visitor.post(page, LONG_MESSAGE)
        return Member(name, message_id, await context.storage_state())
    finally:
        await context.close()


@pytest.fixture(params=MAIN_PAGES, ids=lambda main_page: main_page.name)
def main_page(request: pytest.FixtureRequest) -> MainPage:
    return request.param


@pytest.fixture(params=LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest_asyncio.fixture(loop_scope="package")
async def opened_page(
    main_page: MainPage, language: str, new_context: NewContext, member: Member, live_server: Site
) -> Page:
    """`main_page` in `language` (its `lang` cookie) in a fresh context, 1280 px wide,
    as the member if the page is for members; the status it answered is checked."""
    context = await new_context(
        viewport={"width": 1280, "height": 800},
        storage_state=member.storage_state if main_page.as_member else None,
    )
    await context.add_cookies([{"name": "lang", "value": language, "url": live_server.url}])
    page = await context.new_page()
    response = await page.goto(
        main_page.path.format(name=member.name, message_id=member.message_id)
    )
    assert response is not None and response.status == main_page.status, main_page
    assert await page.get_attribute("html", "lang") == language
    return page
