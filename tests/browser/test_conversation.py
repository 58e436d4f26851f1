"""Members talk, in a real browser and in both languages: a reply written on a
message's page shows up live on the writer's open page of it (and its count on their
main page), answering a reply starts with `@name`, and a like counts on every open
page; a message a moderator hides takes its replies off open profiles.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from . import visitor
from .test_live import open_live
from .visitor import LANGUAGES, NewContext, Site, member_page, new_name, promote

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]

WORDS = {
    "en": {"reply": "Reply", "write": "Write a reply", "like": "Like", "unlike": "Unlike"},
    "ko": {"reply": "답글 달기", "write": "답글 쓰기", "like": "좋아요", "unlike": "좋아요 취소"},
}


async def in_language(page: Page, site: Site, language: str) -> None:
    await page.context.add_cookies([{"name": "lang", "value": language, "url": site.url}])


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_reply_and_a_like_reach_open_pages(
    new_context: NewContext, live_server: Site, language: str
) -> None:
    words = WORDS[language]
    alice_name, bob_name = new_name("alice"), new_name("bob")
    alice = await visitor.member_page(new_context, alice_name)
    bob = await visitor.member_page(new_context, bob_name)
    alices_main = await alice.context.new_page()
    first = await visitor.post(alice, f"What do you think, {language}?")
    for page in (alice, bob, alices_main):
        await in_language(page, live_server, language)

    await open_live(alice, f"/messages/{first}")
    await open_live(alices_main, "/")
    await expect(alices_main.locator(f"#m{first} .replies")).to_have_attribute("data-replies", "0")

    await bob.goto("/")
    await bob.locator(f"#m{first} a.replies").click()
    await expect(bob).to_have_url(f"{live_server.url}/messages/{first}")
    await bob.get_by_label(words["write"]).fill("I think so")
    await bob.get_by_role("button", name=words["reply"], exact=True).click()
    answer = bob.locator("li.reply", has_text="I think so")
    await expect(answer).to_have_count(1)
    reply_id = (await answer.get_attribute("id") or "").removeprefix("m")

    # Alice's open pages: the reply in her message's page, the count on her main page.
    await expect(alice.locator(f"#m{reply_id} .body")).to_have_text("I think so")
    await expect(alices_main.locator(f"#m{first} .replies")).to_have_attribute("data-replies", "1")
    await expect(alices_main.locator(f"#m{reply_id}")).to_have_count(0)  # not in the main list

    # Alice answers Bob's reply: her form starts the reply with his name.
    await alice.locator(f"#m{reply_id}").get_by_role("link", name=words["reply"]).click()
    await alice.locator("#body").fill("Glad to hear")
    await alice.locator("#reply").get_by_role("button", name=words["reply"]).click()
    await expect(alice.locator("li.reply", has_text=f"@{bob_name} Glad to hear")).to_have_count(1)

    # A like: counted on the liker's page and, live, on the other's.
    await open_live(bob, f"/messages/{first}")
    await alice.locator(f"#m{reply_id}").get_by_role("button", name=words["like"]).click()
    for page in (alice, bob):
        await expect(page.locator(f"#m{reply_id} .likes")).to_have_attribute("data-likes", "1")
    pressed = alice.locator(f"#m{reply_id}").get_by_role("button", name=words["unlike"])
    await expect(pressed).to_have_attribute("aria-pressed", "true")


async def test_a_hidden_message_takes_its_replies_off_open_profiles(
    new_context: NewContext, live_server: Site
) -> None:
    alice_name, bob_name, mod_name = new_name("alice"), new_name("bob"), new_name("mod")
    alice = await member_page(new_context, alice_name)
    first = await visitor.post(alice, "A message that will be hidden")
    bob = await member_page(new_context, bob_name)
    await bob.goto(f"/messages/{first}")
    await bob.get_by_label(WORDS["en"]["write"]).fill("A reply under it")
    await bob.get_by_role("button", name=WORDS["en"]["reply"], exact=True).click()
    reply = bob.locator("li.reply", has_text="A reply under it")
    reply_id = (await reply.get_attribute("id") or "").removeprefix("m")

    watcher = await (await new_context()).new_page()
    await open_live(watcher, f"/users/{bob_name}")
    await expect(watcher.locator(f"#m{reply_id}")).to_have_count(1)

    moderator = await member_page(new_context, mod_name)
    await promote(live_server, mod_name)
    await moderator.goto(f"/messages/{first}")
    await moderator.locator(f"#m{first}").get_by_role("button", name="Hide").click()
    await expect(watcher.locator(f"#m{reply_id}")).to_have_count(0)
