"""Live updates in a real browser: a post, an edit and a delete made in one page show
up in other open pages without a reload, with Edit and Delete on the viewer's own; and
messages written together, which reach a page as one frame, all show up."""

from __future__ import annotations

import sqlite3

import pytest
from playwright.async_api import Page, expect

from . import visitor
from .visitor import NewContext, Site, new_name

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]


async def open_live(page: Page, path: str = "/") -> None:
    """`path`, once its socket is open; marked, so a reload would show."""
    await page.goto(path)
    await expect(page.locator(".live-list")).to_have_attribute("data-live-state", "open")
    await page.evaluate("window.notReloaded = true")


async def not_reloaded(page: Page) -> None:
    assert await page.evaluate("window.notReloaded === true")


async def test_a_post_an_edit_and_a_delete_show_up_in_other_pages(
    new_context: NewContext,
) -> None:
    writer_context = await new_context()
    writer = await writer_context.new_page()
    name = new_name("live")
    await visitor.sign_up(writer, name)
    errors: list[str] = []

    reader = await (await new_context()).new_page()  # someone else, not logged in
    own_tab = await writer_context.new_page()  # the writer's second tab
    profile = await (await new_context()).new_page()
    for page in (reader, own_tab, profile):
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
    await open_live(reader)
    await open_live(own_tab)
    await open_live(profile, f"/users/{name}")

    body = f"Live <b>hello</b> from {name}"
    message_id = await visitor.post(writer, body)
    for page in (reader, own_tab, profile):
        item = page.locator(f"#m{message_id}")
        await expect(item.locator(".body")).to_have_text(body)  # escaped, as on a page load
        await not_reloaded(page)
    await expect(reader.locator(f"#m{message_id}").get_by_role("link", name="Edit")).to_have_count(
        0
    )
    mine = own_tab.locator(f"#m{message_id}")
    await expect(mine.get_by_role("link", name="Edit")).to_be_visible()
    await expect(mine.get_by_role("button", name="Delete")).to_be_visible()

    await writer.goto(f"/messages/{message_id}/edit")
    await writer.get_by_label("Message").fill(body + " (edited)")
    await writer.get_by_role("button", name="Save").click()
    for page in (reader, own_tab, profile):
        item = page.locator(f"#m{message_id}")
        await expect(item.locator(".body")).to_have_text(body + " (edited)")
        await expect(item.locator(".edited")).to_be_visible()
        await not_reloaded(page)

    # Deleting from the writer's other tab, through the live-inserted form itself.
    await mine.get_by_role("button", name="Delete").click()
    await expect(own_tab.locator(f"#m{message_id}")).to_have_count(0)
    for page in (reader, profile):
        await expect(page.locator(f"#m{message_id}")).to_have_count(0)
        await not_reloaded(page)
    assert errors == []


async def test_an_older_page_offers_a_link_to_new_messages(
    new_context: NewContext, page: Page
) -> None:
    writer = await (await new_context()).new_page()
    await visitor.sign_up(writer, new_name("p"))
    for n in range(21):  # one more than a page
        await visitor.post(writer, f"filler {n}")
    await page.goto("/")
    older = page.get_by_role("link", name="Older", exact=True)
    await open_live(page, await older.get_attribute("href") or "")
    news = page.get_by_role("link", name="New messages")
    await expect(news).to_be_hidden()
    new_id = await visitor.post(writer, "a newer one")
    await expect(news).to_be_visible()
    await expect(page.locator(f"#m{new_id}")).to_have_count(0)  # the page stays put
    await not_reloaded(page)


async def test_messages_written_together_show_up_together(
    new_context: NewContext, live_server: Site
) -> None:
    """Three rows in one transaction, as psql would write them: the hub reads their
    events at once and each socket sends them as one frame, a list."""
    writer = await (await new_context()).new_page()
    name = new_name("batch")
    await visitor.sign_up(writer, name)
    page = await (await new_context()).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await open_live(page)
    path = live_server.env["GUESTBOOK_DATABASE_URL"].split("///", 1)[1]
    bodies = [f"together {n} from {name}" for n in range(3)]
    with sqlite3.connect(path) as connection:  # commits at the block's end
        (writer_id,) = connection.execute(
            "SELECT id FROM users WHERE username = ?", (name,)
        ).fetchone()
        connection.executemany(
            "INSERT INTO messages (body, created_at, writer_id) VALUES (?, CURRENT_TIMESTAMP, ?)",
            [(body, writer_id) for body in bodies],
        )
    for body in bodies:
        await expect(page.locator(".live-list .body", has_text=body)).to_have_count(1)
    await not_reloaded(page)
    assert errors == []
