"""The API's two pages in a real browser: the account page makes a token, shows it
once and lists it; /api/docs renders the document with Swagger UI from this site's
files, under the site's Content-Security-Policy (a blocked script or style would be
a console error, and the operations would not be there)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import ConsoleMessage, expect

from . import visitor
from .visitor import NewContext, new_name

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]


async def test_the_docs_page_renders_every_operation_under_the_csp(
    new_context: NewContext, live_server
) -> None:
    page = await (await new_context()).new_page()
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        # The browser's own favicon request is every page's 404 (the site has none).
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside: list[str] = []
    here = live_server.url + "/"
    page.on("request", lambda r: None if r.url.startswith(here) else outside.append(r.url))
    await page.goto("/api/docs")
    operations = page.locator(".opblock")
    await expect(operations).to_have_count(11)
    await expect(page.locator(".opblock-summary-path").first).to_contain_text("/api/v1/")
    assert errors == [] and outside == []


async def test_a_token_made_on_the_account_page_reads_the_api(
    new_context: NewContext, live_server
) -> None:
    page = await (await new_context()).new_page()
    name = new_name("tokens")
    await visitor.sign_up(page, name)
    await page.goto("/account")
    await page.get_by_label("Token name").fill("my script")
    await page.get_by_label("Scope").select_option("read")
    await page.get_by_role("button", name="Make a token").click()
    token = await page.locator("#new-token").inner_text()
    async with httpx.AsyncClient(base_url=live_server.url) as api:
        me = await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["username"] == name
    await page.goto("/account")
    await expect(page.locator("#new-token")).to_have_count(0)  # shown once
    row = page.locator("table.tokens tr", has_text="my script")
    await expect(row).to_contain_text("read")
    await row.get_by_role("button", name="Revoke").click()
    await expect(page.locator("table.tokens tr", has_text="my script")).to_have_count(0)
