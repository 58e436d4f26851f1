"""A reader's page that nginx kept still goes live: through the sample nginx site, the
main page comes from nginx's cache (X-Cache-Status) with the live sequence it was
rendered at, and its socket resumes from there, so a message posted after the copy was
made shows up within a second or two, without a reload."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, expect

from nginx_site import sample_site
from servers import LiveServer, migrate

from . import visitor
from .conftest import TIMEOUT_MS
from .visitor import NewContext

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]

FROM_THE_CACHE = {"HIT", "STALE", "UPDATING"}  # answered with a kept copy
SHOWN_WITHIN_MS = 2_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app (one worker, SQLite) behind the sample nginx site: its https URL. The app
    trusts nginx's X-Forwarded-Proto (PROXY_HOPS=1), so the socket's Origin matches."""
    workdir = tmp_path_factory.mktemp("nginx-live")
    env = {
        "GUESTBOOK_ENV": "development",
        "GUESTBOOK_SECRET_KEY": secrets.token_hex(32),
        "GUESTBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'guestbook.sqlite3'}",
        "GUESTBOOK_MAIL_BACKEND": "null",
        "GUESTBOOK_PROXY_HOPS": "1",
        "GUESTBOOK_ARGON2_TIME_COST": "1",
        "GUESTBOOK_ARGON2_MEMORY_KIB": "1024",
        "GUESTBOOK_SIGNUP_MIN_SECONDS": "0",
    }
    migrate(env)
    with LiveServer(workdir, env) as server, sample_site(workdir, [server.port]) as nginx:
        yield nginx["https"]


@pytest_asyncio.fixture(loop_scope="package")
async def new_context(browser: Browser, site: str) -> AsyncIterator[NewContext]:
    """Makes browser contexts on the nginx site (its certificate is self-signed); all
    are closed after the test."""
    contexts: list[BrowserContext] = []

    async def make() -> BrowserContext:
        context = await browser.new_context(base_url=site, ignore_https_errors=True)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


async def test_a_page_from_nginxs_cache_shows_new_messages_live(new_context: NewContext) -> None:
    writer = await (await new_context()).new_page()
    await visitor.sign_up(writer, visitor.new_name("nginx"))
    reader = await (await new_context()).new_page()
    first = await reader.goto("/")  # fetched from the app, and kept
    assert first is not None and first.status == 200

    # Posted after nginx made its copy: the copy does not show it, its socket must.
    before = f"Posted before the kept copy was served {secrets.token_hex(4)}"
    before_id = await visitor.post(writer, before)
    kept = await reader.goto("/")
    assert kept is not None
    assert (await kept.all_headers())["x-cache-status"] in FROM_THE_CACHE
    assert before not in await kept.text()
    live = reader.locator(".live-list")
    await expect(live).to_have_attribute("data-live-state", "open")
    await reader.evaluate("window.notReloaded = true")
    await expect(reader.locator(f"#m{before_id} .body")).to_have_text(
        before, timeout=SHOWN_WITHIN_MS
    )

    after = f"Posted while the kept copy is open {secrets.token_hex(4)}"
    after_id = await visitor.post(writer, after)
    await expect(reader.locator(f"#m{after_id} .body")).to_have_text(after, timeout=SHOWN_WITHIN_MS)
    assert await reader.evaluate("window.notReloaded === true")


async def test_an_edit_shows_live_though_nginx_kept_the_message_before_it(
    new_context: NewContext,
) -> None:
    """Readers' fragments are kept by nginx too; the edit's event asks for another URL
    (its number), so the open page gets the new text, not the copy of the old."""
    writer = await (await new_context()).new_page()
    await visitor.sign_up(writer, visitor.new_name("edit"))
    reader = await (await new_context()).new_page()
    await reader.goto("/")
    await expect(reader.locator(".live-list")).to_have_attribute("data-live-state", "open")
    asked: list[tuple[str, str]] = []
    reader.on("response", lambda r: asked.append((r.url, r.headers.get("x-cache-status", ""))))

    body = f"Kept by nginx, then edited {secrets.token_hex(4)}"
    message_id = await visitor.post(writer, body)
    item = reader.locator(f"#m{message_id} .body")
    await expect(item).to_have_text(body, timeout=SHOWN_WITHIN_MS)
    await writer.goto(f"/messages/{message_id}/edit")
    await writer.get_by_label("Message").fill(body + " (edited)")
    await writer.get_by_role("button", name="Save").click()
    await expect(item).to_have_text(body + " (edited)", timeout=SHOWN_WITHIN_MS)
    # Both went through nginx's cache, each a copy of its own.
    fragments = [status for url, status in asked if f"/messages/{message_id}/fragment" in url]
    assert fragments == ["MISS", "MISS"], asked


async def test_the_readers_of_every_page_ask_for_one_fragment_url(
    new_context: NewContext,
) -> None:
    """A reader's fragment is the same on every page, so its URL names only the message
    and the event: nginx keeps one copy for the readers of the main page and of a
    profile alike. A member's names where its buttons lead back to."""
    name = visitor.new_name("share")
    writer = await (await new_context()).new_page()
    await visitor.sign_up(writer, name)
    member = await (await new_context()).new_page()
    await visitor.sign_up(member, visitor.new_name("watch"))
    readers = [await (await new_context()).new_page() for _ in range(2)]
    await readers[0].goto("/")
    await readers[1].goto(f"/users/{name}")
    await member.goto(f"/users/{name}")
    watching = [*readers, member]
    asked: list[list[str]] = [[] for _ in watching]
    for page, urls in zip(watching, asked, strict=True):
        await expect(page.locator(".live-list")).to_have_attribute("data-live-state", "open")
        page.on("request", lambda r, urls=urls: urls.append(r.url))

    body = f"One copy for every reader {secrets.token_hex(4)}"
    message_id = await visitor.post(writer, body)
    for page in watching:
        await expect(page.locator(f"#m{message_id} .body")).to_have_text(
            body, timeout=SHOWN_WITHIN_MS
        )
    fragment = f"/messages/{message_id}/fragment?"
    [on_main], [on_profile], [members] = (
        [url.split(fragment, 1)[1] for url in urls if fragment in url] for urls in asked
    )
    assert on_main == on_profile, asked
    assert re.fullmatch(r"seq=\d+", on_main), on_main
    assert members == f"{on_main}&next=%2Fusers%2F{name}&profile={name}"
