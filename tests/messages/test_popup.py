"""The popup cookie: read with `request.cookies.get`, written with `set_cookie`."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

import pytest

from guestbook.messages.pagination import Cursor
from guestbook.web.cookies import ONE_YEAR
from support import page_text

POPUP = '<aside class="popup" id="popup"'
SCRIPT_TAG = '<script src="/static/popup.js?v='  # then the file's fingerprint


async def test_popup_shows_without_the_cookie(client) -> None:
    page = await page_text(await client.get("/"))
    assert POPUP in page
    assert SCRIPT_TAG in page
    assert 'action="/popup/skip"' in page
    assert '<input type="hidden" name="next" value="/">' in page
    # "Close" needs JavaScript, so it starts hidden; popup.js reveals it.
    assert '<button type="button" id="popup-close" class="secondary" hidden>Close</button>' in page


async def test_popup_is_absent_with_popup_skip_yes(client) -> None:
    client.set_cookie("localhost", "popup_skip", "yes")
    page = await page_text(await client.get("/"))
    assert 'id="popup"' not in page
    assert "popup.js" not in page


@pytest.mark.parametrize("value", ["no", "YES", "yes!", "1", "true", ""])
async def test_popup_shows_with_any_other_value(client, value: str) -> None:
    client.set_cookie("localhost", "popup_skip", value)
    assert POPUP in await page_text(await client.get("/"))


@pytest.mark.parametrize(
    "header",
    [
        "popup_skip",
        "popup_skip=",
        '=;=;;popup_skip="yes',
        "popup_skip=yes=no; ;;",
        "popup_skip=%ff%fe",
        "a" * 5000,
        "popup_skip=\\",
        ";;;,,,",
    ],
)
async def test_a_malformed_cookie_header_is_never_a_400(app, header: str) -> None:
    client = app.test_client()
    response = await client.get("/", headers={"Cookie": header})
    assert response.status_code == 200
    assert POPUP in await page_text(response)


async def test_skip_sets_the_cookie_and_goes_back(client) -> None:
    response = await client.post("/popup/skip", form={"next": "/users/alice?before=abc"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/alice?before=abc"
    [cookie] = response.headers.get_all("Set-Cookie")
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0] == "popup_skip=yes"
    assert f"Max-Age={ONE_YEAR}" in attributes
    assert ONE_YEAR == 365 * 24 * 3600
    assert "Path=/" in attributes
    assert "SameSite=Lax" in attributes
    assert any(a.startswith("Expires=") for a in attributes)
    # Deliberately readable by popup.js: no HttpOnly (and no Secure outside production).
    assert not any(a.lower() in ("httponly", "secure") for a in attributes)
    # The browser sends it back, and the popup is gone.
    assert 'id="popup"' not in await page_text(await client.get("/"))


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
async def test_skip_never_redirects_off_site(client, target: str) -> None:
    response = await client.post("/popup/skip", form={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "popup_skip=yes" in response.headers["Set-Cookie"]


async def test_skip_without_next_goes_home(client) -> None:
    response = await client.post("/popup/skip", form={})
    assert response.headers["Location"] == "/"


async def test_a_reader_without_cookies_skips_without_javascript(app) -> None:
    """The form works with no session at all, and leaves only the popup cookie."""
    reader = app.test_client()
    page = await page_text(await reader.get("/"))
    assert 'name="csrf_token"' not in page.split('id="popup"')[1].split("</aside>")[0]
    response = await reader.post(
        "/popup/skip",
        form={"next": "/"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 302
    [cookie] = response.headers.get_all("Set-Cookie")
    assert cookie.startswith("popup_skip=yes;")
    assert 'id="popup"' not in await page_text(await reader.get("/"))


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost.evil.example", "Sec-Fetch-Site": "same-site"},
    ],
)
async def test_skip_from_another_site_is_refused(app, headers: dict[str, str]) -> None:
    response = await app.test_client().post("/popup/skip", form={"next": "/"}, headers=headers)
    assert response.status_code == 400
    assert "did not come from this site" in await page_text(response)
    assert "popup_skip" not in " ".join(response.headers.get_all("Set-Cookie"))


async def test_only_the_popup_goes_without_a_token(client, auth) -> None:
    """The exemption is the popup's alone: writing still needs the session's token."""
    await auth.signup("alice")
    response = await client.post("/messages", form={"body": "hi"}, csrf=False)
    assert response.status_code == 400


async def test_popup_js_sets_the_same_cookie_as_the_server(client) -> None:
    script = await page_text(await client.get("/static/popup.js"))
    one_year = re.search(r"var ONE_YEAR = ([\d *]+);", script)
    assert one_year
    assert math.prod(int(factor) for factor in one_year.group(1).split("*")) == ONE_YEAR
    assert '"popup_skip=yes; Max-Age=" + ONE_YEAR + "; Path=/; SameSite=Lax"' in script
    assert "HttpOnly" not in script


async def test_the_skip_form_comes_back_to_the_page_it_was_on(client) -> None:
    cursor = Cursor(datetime(2026, 1, 1, tzinfo=UTC), 7).encode()
    page = await page_text(await client.get(f"/?before={cursor}"))
    assert f'<input type="hidden" name="next" value="/?before={cursor}">' in page
