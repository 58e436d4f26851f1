"""The language switch: the `lang` cookie set by a form without a CSRF token, refused
from other sites, saved on a member's account and set again at their next login."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.models import User
from support import PRODUCTION, AuthActions, CSRFClient, page_text, serving, visible_text


def lang_cookie(response) -> str | None:
    """The `lang` Set-Cookie header of a response, if any."""
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("lang=")]
    return found[0] if found else None


async def switch(client: CSRFClient, lang: str, next_path: str = "/", **headers: str):
    # No token: a reader has no session to hold one, and the form carries none.
    return await client.post(
        "/lang", form={"lang": lang, "next": next_path}, headers=headers, csrf=False
    )


async def saved_locale(app: Quart, username: str) -> str | None:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.locale).where(User.username == username))


async def test_the_form_sets_the_cookie_and_goes_back(client: CSRFClient) -> None:
    response = await switch(
        client, "ko", "/auth/login?next=%2F", **{"Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2F"
    cookie = lang_cookie(response)
    assert cookie is not None and cookie.startswith("lang=ko;")
    assert "Max-Age=31536000" in cookie and "Path=/" in cookie and "SameSite=Lax" in cookie
    assert "HttpOnly" not in cookie  # site.js writes the same cookie
    html = await page_text(await client.get("/auth/login"))
    assert '<html lang="ko">' in html
    assert 'value="en" class="link" lang="en">English</button>' in html

    await switch(client, "en")
    assert '<html lang="en">' in await page_text(await client.get("/"))


async def test_no_header_at_all_is_allowed(client: CSRFClient) -> None:
    """Old browsers send neither header; a cookie that only picks a language is harmless."""
    response = await switch(client, "ko")
    assert response.status_code == 302 and lang_cookie(response)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site's code
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ],
)
async def test_other_sites_are_refused(
    app: Quart, client: CSRFClient, auth: AuthActions, headers: dict[str, str]
) -> None:
    await auth.signup("alice")
    response = await switch(client, "ko", **headers)
    assert response.status_code == 400
    assert lang_cookie(response) is None
    assert await saved_locale(app, "alice") == "en"


async def test_same_origin_by_the_origin_header_is_allowed(client: CSRFClient) -> None:
    response = await switch(client, "ko", Origin="http://localhost")
    assert response.status_code == 302 and lang_cookie(response)


@pytest.mark.parametrize("bad", ["", "fr", "KO", "ko-KR", "x" * 500])
async def test_an_unknown_language_is_a_400_in_the_page_language(
    client: CSRFClient, bad: str
) -> None:
    response = await switch(client, bad)
    assert response.status_code == 400
    assert lang_cookie(response) is None
    assert "There is no such language here." in await visible_text(response)


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
async def test_it_never_sends_you_to_another_site(client: CSRFClient, target: str) -> None:
    response = await switch(client, "ko", target)
    assert response.headers["Location"] == "/"


async def test_a_members_choice_follows_them_to_another_browser(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    await auth.signup("alice")  # in English
    assert await saved_locale(app, "alice") == "en"
    await switch(client, "ko", **{"Sec-Fetch-Site": "same-origin"})
    assert await saved_locale(app, "alice") == "ko"

    other_browser = app.test_client()
    assert '<html lang="en">' in await page_text(await other_browser.get("/"))
    response = await AuthActions(other_browser).login("alice")
    cookie = lang_cookie(response)
    assert cookie is not None and cookie.startswith("lang=ko;")
    text = await visible_text(await other_browser.get("/"))
    assert "alice(으)로 로그인했습니다." in text  # the flash is in her language already
    assert "alice님 환영합니다!" in text


async def test_a_member_without_a_saved_language_keeps_the_browsers(
    app: Quart, client: CSRFClient, seed
) -> None:
    await seed.member("bob")  # written before members had a language
    assert await saved_locale(app, "bob") is None
    client.set_cookie("localhost", "lang", "ko")
    response = await AuthActions(client).login("bob")
    assert lang_cookie(response) is None
    assert "bob님 환영합니다!" in await visible_text(await client.get("/"))


async def test_production_cookie_is_secure(settings_overrides: dict[str, Any]) -> None:
    overrides = {**settings_overrides, **PRODUCTION}
    if not overrides["database_url"].startswith("sqlite"):
        overrides.pop("allow_sqlite")
    async with serving(overrides) as app:
        response = await switch(app.test_client(), "ko")
    cookie = lang_cookie(response)
    assert cookie is not None and "Secure" in cookie
