"""Korean and English: how a request's language is chosen, and pages, flashes, errors
and mails in each."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.config import ConfigError, Settings
from guestbook.i18n import pick
from guestbook.models import Outbox, User
from support import AuthActions, CSRFClient, page_text, reset_schema, serving, visible_text

KOREAN = "ko"


def korean(client: CSRFClient) -> CSRFClient:
    client.set_cookie("localhost", "lang", KOREAN)
    return client


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),  # a Korean browser
        ("en-US,en;q=0.9", "en"),
        ("en;q=0.3, ko;q=0.8", "ko"),  # q-values, not order, decide
        ("ko;q=0.1, en", "en"),  # no q is 1
        ("KO", "ko"),  # case does not matter
        ("fr-FR, ko;q=0.5", "ko"),  # the best one we have
        ("fr, de;q=0.9", "de-default"),  # none we have: the default
        ("ko;q=0", "de-default"),  # q=0 means "not this one"
        ("*", "en"),  # anything: the first we have
        ("ko;q=abc, en;q=0.5", "en"),  # a broken q-value drops that entry only
        ("ko;q=2", "de-default"),  # out of range: dropped
        (";;;,,,", "de-default"),
        ("\x00\xff", "de-default"),
        ("ko-" + "x" * 5000, "ko"),
        ("", "de-default"),
        (None, "de-default"),
    ],
)
def test_accept_language_with_odd_headers(header: str | None, expected: str) -> None:
    assert pick(None, header, "de-default") == expected


@pytest.mark.parametrize("cookie", ["ko", "en"])
def test_a_valid_cookie_wins_over_the_header(cookie: str) -> None:
    other = "en" if cookie == "ko" else "ko"
    assert pick(cookie, other, "en") == cookie


@pytest.mark.parametrize("cookie", ["", "KO", "kr", "ko-KR", "en;", "../../etc", "\u212a"])
def test_a_bogus_cookie_falls_back_to_the_header(cookie: str) -> None:
    assert pick(cookie, "ko", "en") == "ko"
    assert pick(cookie, None, "en") == "en"


def test_the_default_locale_setting_is_checked() -> None:
    assert Settings.from_env({"GUESTBOOK_DEFAULT_LOCALE": "ko"}, env="testing").default_locale
    with pytest.raises(ConfigError, match="GUESTBOOK_DEFAULT_LOCALE"):
        Settings.from_env({"GUESTBOOK_DEFAULT_LOCALE": "fr"}, env="testing")


async def test_pages_are_english_by_default_and_say_so(client: CSRFClient) -> None:
    response = await client.get("/")
    html = await page_text(response)
    assert '<html lang="en">' in html
    assert response.headers["Content-Language"] == "en"
    assert {"cookie", "accept-language"} <= {v.lower() for v in response.vary}
    assert "Log in to write" in html
    # The switch offers the other language, named in itself, without a CSRF token.
    assert 'value="ko" class="link" lang="ko">한국어</button>' in html


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ({"cookie": "ko"}, "ko"),
        ({"header": "ko-KR,ko;q=0.9"}, "ko"),
        ({"cookie": "en", "header": "ko"}, "en"),
        ({"cookie": "zz", "header": "ko"}, "ko"),  # a bogus cookie never gives a 500
        ({"cookie": "zz" * 2000}, "en"),
    ],
)
async def test_html_lang_matches_the_chosen_language(
    client: CSRFClient, how: dict[str, str], expected: str
) -> None:
    if "cookie" in how:
        client.set_cookie("localhost", "lang", how["cookie"])
    headers = {"Accept-Language": how["header"]} if "header" in how else {}
    for path in ("/", "/auth/login", "/auth/signup", "/no/such/page"):
        response = await client.get(path, headers=headers)
        assert response.status_code in (200, 404)
        assert f'<html lang="{expected}">' in await page_text(response), path
        assert response.headers["Content-Language"] == expected


async def test_the_default_locale_serves_korean_without_cookie_or_header(
    settings_overrides: dict[str, Any],
) -> None:
    async with serving({**settings_overrides, "default_locale": "ko"}) as app:
        await reset_schema(app)
        html = await page_text(await app.test_client().get("/"))
        assert '<html lang="ko">' in html and "로그인하고 글쓰기" in html
        headers = {"Accept-Language": "en-US,en;q=0.9"}
        html = await page_text(await app.test_client().get("/", headers=headers))
        assert '<html lang="en">' in html and "Log in to write" in html


async def test_the_main_walk_in_korean(app: Quart, client: CSRFClient, seed) -> None:
    await seed.member("bob", "first", "second")
    korean(client)
    text = await visible_text(await client.get("/"))
    for words in ("방명록", "가입", "로그인", "글 목록", "새해까지 D-", "다시 보지 않기"):
        assert words in text
    for english in ("Sign up", "Log in", "Messages", "New Year", "Don't show again"):
        assert english not in text
    # Times by locale, in UTC and saying so until the page's script rewrites them.
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일 (오전|오후) \d{1,2}:\d{2} UTC", text), text

    profile = await visible_text(await client.get("/users/bob"))
    assert "글 2개" in profile and "가입일 " in profile


async def test_the_greeting_is_one_per_language(client: CSRFClient, auth: AuthActions) -> None:
    await auth.signup("alice")
    english = await visible_text(await client.get("/"))
    assert "Welcome, alice!" in english and "환영합니다" not in english
    korean(client)
    text = await visible_text(await client.get("/"))
    assert "alice님 환영합니다!" in text and "Welcome" not in text


async def test_plural_forms_and_numbers_in_english(client: CSRFClient, seed) -> None:
    await seed.member("none")
    await seed.member("one", "only")
    await seed.member("two", "a", "b")
    assert "· 0 messages" in await visible_text(await client.get("/users/none"))
    assert "· 1 message " in await visible_text(await client.get("/users/one"))
    assert "· 2 messages" in await visible_text(await client.get("/users/two"))


async def test_flashes_and_form_errors_in_korean(client: CSRFClient, auth: AuthActions) -> None:
    korean(client)
    await auth.signup("alice")
    assert "alice님, 가입을 환영합니다!" in await visible_text(await client.get("/"))
    response = await client.post("/messages", form={"body": "x" * 1001})
    assert response.status_code == 400
    assert "최대 1,000자까지 쓸 수 있습니다 (지금 1,001자)." in await visible_text(response)
    await client.post("/messages", form={"body": "안녕하세요"})
    assert "글을 올렸습니다." in await visible_text(await client.get("/"))
    response = await auth.signup("alice")
    assert "이미 쓰고 있는 사용자 이름입니다." in await visible_text(response)


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [
        ("GET", "/no/such/page", 404, "찾을 수 없음"),
        ("GET", "/users/nobody", 404, "'nobody'(이)라는 회원은 없습니다."),
        ("GET", "/messages", 405, "허용되지 않는 요청 방식"),
        ("POST", "/messages", 400, "이 양식이 만료되었거나"),  # no CSRF token
        ("GET", "/messages/1/edit", 302, ""),  # login first: a redirect, no page
    ],
)
async def test_error_pages_in_korean(
    client: CSRFClient, method: str, path: str, status: int, title: str
) -> None:
    korean(client)
    response = await client.open(path, method=method)
    assert response.status_code == status
    if title:
        text = await visible_text(response)
        assert title in text and "방명록으로 돌아가기" in text
        assert "Not found" not in text and "Bad request" not in text


async def test_a_too_large_body_and_too_many_attempts_in_korean(
    settings_overrides: dict[str, Any],
) -> None:
    overrides = {**settings_overrides, "max_body_bytes": 1000, "login_limit": 1}
    async with serving(overrides) as app:
        await reset_schema(app)
        client = korean(app.test_client())
        response = await AuthActions(client).login("x" * 5000)
        assert response.status_code == 413
        assert "보낸 내용이 너무 큽니다." in await visible_text(response)
        for _ in range(2):
            response = await AuthActions(client).login("nobody", "wrong password")
        assert response.status_code == 429
        assert "시도가 너무 많습니다." in await visible_text(response)


async def test_mail_goes_out_in_the_recipients_language(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    korean(client)
    await auth.signup("alice")  # signed up in Korean: that is her language
    stranger = app.test_client()  # someone in an English browser asks for her reset
    stranger.set_cookie("localhost", "lang", "en")
    await stranger.post("/auth/forgot", form={"email": "alice@example.com"})
    async with db.sessionmaker(app)() as session:
        mails = list(await session.scalars(select(Outbox).order_by(Outbox.id)))
    welcome, reset = mails[0], mails[-1]
    assert welcome.subject == "alice님, 방명록에 오신 것을 환영합니다!"
    assert "alice님 환영합니다!" in welcome.text_body and "Welcome" not in welcome.text_body
    assert '<html lang="ko">' in welcome.html_body
    assert reset.subject == "방명록 비밀번호 재설정"
    assert "60분 동안 한 번만" in reset.text_body and "60분 동안 한 번만" in reset.html_body


async def test_an_english_members_mail_is_english(app: Quart, auth: AuthActions) -> None:
    await auth.signup("bob")
    async with db.sessionmaker(app)() as session:
        [welcome] = list(await session.scalars(select(Outbox)))
        bob = await session.scalar(select(User).where(User.username == "bob"))
    assert bob.locale == "en"
    assert welcome.subject == "Welcome to the Guestbook, bob!"
    assert '<html lang="en">' in welcome.html_body
