"""The language switch in a real browser, with and without JavaScript, and times shown
in the reader's own zone by the page's script (in UTC, and saying so, without it)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from playwright.async_api import Page, expect

from . import visitor
from .conftest import Member, _missing
from .visitor import NewContext, menu, new_name

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="package")]


async def test_a_korean_font_is_installed() -> None:
    """Without one, the Korean screenshots show empty boxes (`.ci/run` installs
    Debian's fonts-noto-cjk)."""
    if shutil.which("fc-list") is None:
        _missing("fontconfig's fc-list is not installed (apt-get install fonts-noto-cjk)")
    found = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True)
    if not found.stdout.strip():
        _missing("no font with Korean glyphs (apt-get install fonts-noto-cjk)")
    assert "CJK" in found.stdout or "KR" in found.stdout, found.stdout


def lang_posts(page: Page) -> list[str]:
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.url.endswith("/lang") else None)
    return posts


async def test_the_script_sets_the_cookie_itself_for_a_reader(page: Page) -> None:
    posts = lang_posts(page)
    await page.goto("/auth/login")
    await menu(page).get_by_role("button", name="한국어").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ko")
    await expect(page.get_by_role("heading", name="로그인")).to_be_visible()
    assert posts == [], "site.js sets document.cookie and reloads, without the form's POST"
    assert "lang=ko" in (await page.evaluate("document.cookie")).split("; ")

    await menu(page).get_by_role("button", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.url.endswith("/auth/login")


async def test_without_javascript_the_form_asks_the_server(new_context: NewContext) -> None:
    page = await (await new_context(java_script_enabled=False)).new_page()
    posts = lang_posts(page)
    await page.goto("/auth/signup")
    await menu(page).get_by_role("button", name="한국어").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ko")
    assert len(posts) == 1 and page.url.endswith("/auth/signup")
    jar = {cookie["name"]: cookie for cookie in await page.context.cookies()}
    assert jar["lang"]["value"] == "ko" and not jar["lang"]["httpOnly"]


async def test_times_in_the_readers_zone_and_language(
    new_context: NewContext, member: Member
) -> None:
    # A reader in Seoul, in Korean: the page's script turns the UTC time into theirs.
    context = await new_context(timezone_id="Asia/Seoul", locale="ko-KR")
    page = await context.new_page()
    await page.goto(f"/users/{member.name}")
    time = page.locator(f"#m{member.message_id} time")
    utc = await time.get_attribute("datetime")
    assert utc and utc.endswith("+00:00")
    await expect(time).not_to_contain_text("UTC")
    shown, title = await time.text_content(), await time.get_attribute("title")
    assert title and title.endswith(" UTC")  # the server's UTC text, one hover away
    expected = await page.evaluate(
        """(iso) => new Intl.DateTimeFormat("ko", {year: "numeric", month: "short",
            day: "numeric", hour: "numeric", minute: "2-digit", timeZone: "Asia/Seoul"})
            .format(new Date(iso))""",
        utc,
    )
    assert shown == expected
    assert re.fullmatch(r"\d{4}년 \d{1,2}월 \d{1,2}일 (오전|오후) \d{1,2}:\d{2}", shown or "")

    # Without JavaScript the server's text stays: UTC, and marked so.
    still = await (await new_context(java_script_enabled=False)).new_page()
    await still.goto(f"/users/{member.name}")
    await expect(still.locator(f"#m{member.message_id} time")).to_have_text(re.compile(r" UTC$"))


async def test_a_members_choice_follows_them_to_another_browser(
    new_context: NewContext,
) -> None:
    name = new_name("lang")
    first = await (await new_context()).new_page()
    await visitor.sign_up(first, name)
    posts = lang_posts(first)
    await menu(first).get_by_role("button", name="한국어").click()
    await expect(first.locator("p.welcome")).to_have_text(f"{name}님 환영합니다!")
    assert len(posts) == 1, "for a member the script also saves the choice on the account"

    second = await (await new_context()).new_page()  # an English browser
    await second.goto("/auth/login")
    await expect(second.locator("html")).to_have_attribute("lang", "en")
    await second.get_by_label("Username or email").fill(name)
    await second.get_by_label("Password", exact=True).fill(visitor.PASSWORD)
    await second.get_by_role("button", name="Log in").click()
    await expect(second.locator("html")).to_have_attribute("lang", "ko")
    await expect(second.locator("p.welcome")).to_have_text(f"{name}님 환영합니다!")


async def test_a_korean_name_signs_up_in_korean_and_is_greeted(
    new_context: NewContext, live_server: visitor.Site
) -> None:
    """홍길동 signs up on the Korean page; the main page greets them by name, the menu
    links to their profile at its percent-encoded address, and the profile opens."""
    context = await new_context()
    await context.add_cookies([{"name": "lang", "value": "ko", "url": live_server.url}])
    page = await context.new_page()
    await page.goto("/auth/signup")
    await page.get_by_label("사용자 이름").fill("홍길동")
    await page.get_by_label("이메일").fill(f"{new_name('hong')}@example.com")
    await page.get_by_label("비밀번호", exact=True).fill(visitor.PASSWORD)
    await page.get_by_label("비밀번호 확인").fill(visitor.PASSWORD)
    await page.get_by_role("button", name="가입").click()
    await expect(page.locator("p.welcome")).to_have_text("홍길동님 환영합니다!")
    await menu(page).get_by_role("link", name="홍길동").click()
    await expect(page).to_have_url(re.compile("/users/%ED%99%8D%EA%B8%B8%EB%8F%99$"))
    await expect(page.get_by_role("heading", name="홍길동")).to_be_visible()
