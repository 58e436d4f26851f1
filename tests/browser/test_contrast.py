"""Every button and link can be read: on a member's main page, profile and a message's
page (their own messages' Edit and Delete, everyone's Like) and on the moderation page (a
moderator's controls on every message), in both languages, each visible button and link
has a text colour that differs from the background it sits on by a contrast of at least
4.5:1 (WCAG AA), read from the computed styles. (A red Delete box with red text once passed
every other check.)"""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from .conftest import Member
from .visitor import LANGUAGES, NewContext, Site, member_page, new_name, post, promote

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]

# The contrast of each visible button and link with the first opaque background behind
# it (WCAG's relative luminance); the page's own white where none is set.
UNREADABLE = """() => {
  const rgba = (text) => {
    const parts = text.match(/[\\d.]+/g).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  return [...document.querySelectorAll("button, a")]
    .filter((el) => el.offsetParent !== null && el.innerText.trim())
    .map((el) => {
      const [one, two] = [luminance(rgba(getComputedStyle(el).color)), luminance(behind(el))];
      const ratio = (Math.max(one, two) + 0.05) / (Math.min(one, two) + 0.05);
      return { text: el.innerText.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100 };
    })
    .filter((found) => found.ratio < 4.5);
}"""


async def unreadable(page: Page, language: str, path: str) -> list[dict]:
    await page.context.add_cookies(
        [{"name": "lang", "value": language, "url": page.url or "http://x/"}]
    )
    await page.goto(path)
    assert await page.get_attribute("html", "lang") == language
    return await page.evaluate(UNREADABLE)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_button_and_link_can_be_read(
    new_context: NewContext, live_server: Site, member: Member, language: str
) -> None:
    writer = await (await new_context(storage_state=member.storage_state)).new_page()
    await writer.goto("/")  # the member's own messages: Edit and Delete
    moderator_name = new_name("m")
    moderator = await member_page(new_context, moderator_name)
    await post(moderator, f"A moderator's own message in {language}")
    await promote(live_server, moderator_name)
    pages = [
        (writer, "/"),
        (writer, f"/users/{member.name}"),
        (writer, f"/messages/{member.message_id}"),
        (moderator, f"/messages/{member.message_id}"),
        (moderator, "/"),
        (moderator, "/moderation"),
    ]
    for page, path in pages:
        assert await unreadable(page, language, path) == [], (path, language)
