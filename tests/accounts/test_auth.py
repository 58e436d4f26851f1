"""Signup, login, logout, the login-sessions table behind the cookie, `g.user`,
`login_required`, the menu bar and the cookies' flags."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from quart import Quart
from quart.datastructures import FileStorage
from sqlalchemy import update

from guestbook import db
from guestbook.config import Settings
from guestbook.models import LoginSession, Message, User, utcnow
from guestbook.web.urls import safe_next
from support import (
    FAST_HASHING,
    GOOD,
    PASSWORD,
    AuthActions,
    CSRFClient,
    cookie,
    count_rows,
    field_error,
    login_rows,
    page_text,
    reset_schema,
    serving,
    signed_in_as,
)


async def set_login_times(app: Quart, **times: Any) -> None:
    async with db.sessionmaker(app)() as session:
        await session.execute(update(LoginSession).values(**times))
        await session.commit()


def set_cookie_headers(response) -> dict[str, str]:
    """Set-Cookie headers of a response, by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def is_deleted(set_cookie: str) -> bool:
    return "Max-Age=0" in set_cookie or "1970" in set_cookie


# --- signup ---------------------------------------------------------------------------


async def test_signup_logs_in_and_welcomes(app: Quart, client: CSRFClient, auth: AuthActions):
    response = await auth.signup()
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    assert "gb_login" in set_cookie_headers(response)

    html = await page_text(await client.get("/"))
    assert "Welcome, alice!" in html
    assert "환영합니다" not in html  # one greeting, in the page's language
    assert await count_rows(app, User) == 1
    assert await count_rows(app, LoginSession) == 1


async def test_signup_form_has_the_fields(client: CSRFClient):
    html = await page_text(await client.get("/auth/signup"))
    for name in ("username", "email", "password", "password_confirm", "csrf_token"):
        assert f'name="{name}"' in html


@pytest.mark.parametrize(
    ("taken", "field"),
    [
        ({"username": "ALICE", "email": "other@example.com"}, "username"),
        ({"username": "bob", "email": "Alice@EXAMPLE.com"}, "email"),
    ],
)
async def test_signup_rejects_a_taken_name_in_other_case(
    app: Quart, auth: AuthActions, taken: dict[str, str], field: str
):
    await auth.signup()
    await auth.logout()
    response = await auth.client.post("/auth/signup", form={**GOOD, **taken})
    assert response.status_code == 400
    assert field_error(await page_text(response), field)
    assert await count_rows(app, User) == 1


BAD_VALUES = [
    ("username", ""),
    ("username", "a" * 31),
    ("username", "al\x00ce"),
    ("username", "bad name!"),
    ("email", ""),
    ("email", "a" * 250 + "@example.com"),
    ("email", "alice\x00@example.com"),
    ("email", "not-an-address"),
    ("password", ""),
    ("password", "short"),
    ("password", "x" * 1025),
    ("password", "pass\x00word-long"),
    ("password_confirm", ""),
    ("password_confirm", "x" * 1025),
    ("password_confirm", PASSWORD + "\x00"),
]


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
async def test_signup_bad_value_answers_400_next_to_the_field(
    app: Quart, client: CSRFClient, field: str, value: str
):
    form = {**GOOD, field: value}
    if field == "password":  # so the error is about the password, not the confirmation
        form["password_confirm"] = value
    response = await client.post("/auth/signup", form=form)
    html = await page_text(response)

    assert response.status_code == 400
    assert field_error(html, field)
    # The other fields keep their values; the password is never sent back.
    for other in ("username", "email"):
        if other != field:
            assert f'value="{GOOD[other]}"' in html
    assert PASSWORD not in html
    assert await count_rows(app, User) == 0
    assert await count_rows(app, LoginSession) == 0


@pytest.mark.parametrize("field", list(GOOD))
async def test_signup_repeated_field_answers_400(app: Quart, client: CSRFClient, field: str):
    pairs = [*GOOD.items(), (field, GOOD[field]), ("csrf_token", await client.csrf_token())]
    response = await client.post(
        "/auth/signup",
        data=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert field_error(await page_text(response), field)
    assert await count_rows(app, User) == 0


async def test_signup_json_body_answers_400(app: Quart, client: CSRFClient):
    response = await client.post(
        "/auth/signup", json=GOOD, headers={"X-CSRFToken": await client.csrf_token()}
    )
    html = await page_text(response)
    assert response.status_code == 400
    assert field_error(html, "username") and field_error(html, "email")
    assert await count_rows(app, User) == 0


async def test_signup_file_instead_of_text_answers_400(app: Quart, client: CSRFClient):
    upload = FileStorage(BytesIO(b"alice"), filename="username.txt", name="username")
    form = {k: v for k, v in GOOD.items() if k != "username"}
    response = await client.post("/auth/signup", form=form, files={"username": upload})
    html = await page_text(response)
    assert response.status_code == 400
    assert field_error(html, "username")
    assert f'value="{GOOD["email"]}"' in html
    assert await count_rows(app, User) == 0


# --- login -----------------------------------------------------------------------------


@pytest.fixture
async def alice(auth: AuthActions) -> AuthActions:
    """A signed-up, logged-out alice."""
    await auth.signup()
    await auth.logout()
    return auth


@pytest.mark.parametrize("ident", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"])
async def test_login_by_username_or_email(app: Quart, alice: AuthActions, ident: str):
    response = await alice.login(ident)
    assert response.status_code == 302
    assert await signed_in_as(alice.client) == "alice"
    assert await count_rows(app, LoginSession) == 1


async def test_login_form_has_the_fields(client: CSRFClient):
    html = await page_text(await client.get("/auth/login"))
    for name in ("username", "password", "remember", "csrf_token"):
        assert f'name="{name}"' in html


async def test_wrong_password_and_unknown_user_get_one_generic_401(app: Quart, alice: AuthActions):
    errors = []
    for ident, password in [("alice", "wrong password"), ("nobody", PASSWORD)]:
        response = await alice.login(ident, password)
        html = await page_text(response)
        assert response.status_code == 401
        assert f'value="{ident}"' in html
        errors.append(re.search(r'<p class="error" role="alert">([^<]+)</p>', html).group(1))
    assert errors[0] == errors[1] == "Wrong username or password."
    assert await count_rows(app, LoginSession) == 0
    assert await signed_in_as(alice.client) is None


async def test_login_with_impossible_names_is_the_same_401(app: Quart, alice: AuthActions):
    for ident in ["al\x00ice", "alice\x00@example.com", "a" * 300, "@", ""]:
        response = await alice.login(ident)
        assert response.status_code == 401, ident
        assert "Wrong username or password." in await page_text(response)


HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "%2F%2Fevil.example",
    "/\t/evil.example",
    "/\r\nLocation: https://evil.example",
    "evil.example",
    "",
]


async def test_hostile_next_lands_on_the_main_page(alice: AuthActions):
    for target in HOSTILE_NEXT:  # one app for all: each case is a plain login
        response = await alice.client.post(
            "/auth/login",
            query_string={"next": target},
            form={"username": "alice", "password": PASSWORD},
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/", target


@pytest.mark.parametrize("target", ["/users/alice", "/users/alice?before=abc", "/account/sessions"])
async def test_next_on_this_site_is_followed(alice: AuthActions, target: str):
    response = await alice.client.post(
        "/auth/login",
        query_string={"next": target},
        form={"username": "alice", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_safe_next_refuses_other_sites(target: str):
    assert safe_next(target) == "/"


async def test_login_page_carries_only_a_safe_next_into_its_form(client: CSRFClient):
    html = await page_text(await client.get("/auth/login?next=/users/bob"))
    assert 'action="/auth/login?next=/users/bob"' in html
    html = await page_text(await client.get("/auth/login?next=//evil.example"))
    assert 'action="/auth/login"' in html


# --- logout and the server-side session -------------------------------------------------


async def test_logout_deletes_the_row_and_the_cookie(app: Quart, auth: AuthActions):
    await auth.signup()
    response = await auth.logout()
    assert response.status_code == 302
    assert is_deleted(set_cookie_headers(response)["gb_login"])
    assert await count_rows(app, LoginSession) == 0
    assert await signed_in_as(auth.client) is None


async def test_cookie_copied_before_logout_is_dead_after_it(
    app: Quart, client: CSRFClient, auth: AuthActions
):
    await auth.signup()
    thief = app.test_client()
    thief.set_cookie("localhost", "gb_login", cookie(client, "gb_login"))
    assert await signed_in_as(thief) == "alice"  # the copy works while the login lives

    await auth.logout()
    response = await thief.get("/")
    assert "Welcome, alice" not in await page_text(response)
    assert is_deleted(set_cookie_headers(response)["gb_login"])  # the stale cookie is cleared
    assert cookie(thief, "gb_login") is None


async def test_login_cookie_carries_a_random_token_stored_only_hashed(
    app: Quart, client: CSRFClient, auth: AuthActions
):
    await auth.signup()
    quart_auth = app.extensions["QUART_AUTH"][0]
    token = quart_auth.load_token(cookie(client, "gb_login"), app)
    (row,) = await login_rows(app)

    assert token != str(row.user_id)
    assert len(token) >= 43  # 256 bits, base64url
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.user_agent, row.ip)


async def test_each_login_gets_its_own_token(app: Quart, auth: AuthActions):
    await auth.signup()
    other = AuthActions(app.test_client())
    await other.login()
    tokens = {row.token_hash for row in await login_rows(app)}
    assert len(tokens) == 2


async def test_login_session_row_records_the_visit(app: Quart, client: CSRFClient):
    await client.post("/auth/signup", form=GOOD, headers={"User-Agent": "TestBrowser/1.0"})
    (row,) = await login_rows(app)
    assert row.user_agent == "TestBrowser/1.0"
    assert row.ip
    assert row.created_at <= row.last_seen_at <= utcnow()


# --- timeouts and the touch ------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "alive"),
    [
        ({"last_seen_at": timedelta(days=13)}, True),
        ({"last_seen_at": timedelta(days=15)}, False),  # idle timeout (14 days)
        ({"created_at": timedelta(days=29)}, True),
        ({"created_at": timedelta(days=31)}, False),  # absolute timeout (30 days)
    ],
)
async def test_idle_and_absolute_timeouts_end_the_login(
    app: Quart, auth: AuthActions, age: dict[str, timedelta], alive: bool
):
    await auth.signup()
    now = utcnow()
    await set_login_times(app, **{column: now - ago for column, ago in age.items()})

    response = await auth.client.get("/")
    assert ("Welcome, alice!" in await page_text(response)) is alive
    assert await count_rows(app, LoginSession) == int(alive)
    if not alive:
        assert is_deleted(set_cookie_headers(response)["gb_login"])


async def test_last_seen_is_touched_at_most_once_a_minute(app: Quart, auth: AuthActions):
    await auth.signup()
    recent = utcnow() - timedelta(seconds=30)
    await set_login_times(app, last_seen_at=recent)
    await auth.client.get("/")
    assert (await login_rows(app))[0].last_seen_at == recent

    stale = utcnow() - timedelta(minutes=2)
    await set_login_times(app, last_seen_at=stale)
    before = utcnow()
    await auth.client.get("/")
    assert (await login_rows(app))[0].last_seen_at >= before


# --- cookies ---------------------------------------------------------------------------


async def test_remember_gives_a_persistent_cookie(auth: AuthActions):
    await auth.signup()
    await auth.logout()
    login_cookie = set_cookie_headers(await auth.login(remember="on"))["gb_login"]
    assert "Max-Age=" in login_cookie or "Expires=" in login_cookie


async def test_no_remember_gives_a_browser_session_cookie(auth: AuthActions):
    await auth.signup()
    await auth.logout()
    login_cookie = set_cookie_headers(await auth.login())["gb_login"]
    assert "Max-Age=" not in login_cookie and "Expires=" not in login_cookie


async def test_cookies_are_httponly_lax_and_not_secure_in_development(auth: AuthActions):
    await auth.signup()
    await auth.logout()
    cookies = set_cookie_headers(await auth.login())
    for name in ("gb_login", "gb_session"):
        assert "HttpOnly" in cookies[name]
        assert "SameSite=Lax" in cookies[name]
        assert "Secure" not in cookies[name]


async def test_cookies_are_secure_and_host_only_in_production(database_url: str, tmp_path):
    """`__Host-` names: the browser takes them only Secure, Path=/ and without Domain,
    so a sibling subdomain cannot plant a session or a login cookie."""
    settings = Settings(
        env="production",
        secret_key="p" * 32,
        database_url=database_url,
        allow_sqlite=True,
        instance_path=tmp_path / "instance",
        base_url="https://localhost",
        mail_backend="null",
        signup_min_seconds=0,  # the form is sent without being shown first
        **FAST_HASHING,
    )
    async with serving(settings) as app:
        await reset_schema(app)
        client = app.test_client()
        response = await client.post("/auth/signup", form=GOOD, scheme="https")
        assert response.status_code == 302
        cookies = set_cookie_headers(response)
        for name in ("__Host-gb_login", "__Host-gb_session"):
            assert "Secure" in cookies[name]
            assert "HttpOnly" in cookies[name]
            assert "SameSite=Lax" in cookies[name]
            assert "Path=/;" in cookies[name] + ";"
            assert "domain=" not in cookies[name].lower()


# --- Flask's session: no fixation ------------------------------------------------------


async def test_session_cookie_and_csrf_token_change_at_login(alice: AuthActions):
    client = alice.client
    await client.get("/auth/login")
    async with client.session_transaction() as session:
        session["planted"] = "by someone else"
        token_before = session["csrf_token"]
    cookie_before = cookie(client, "gb_session")

    await alice.login()
    async with client.session_transaction() as session:
        assert "planted" not in session
        assert session["csrf_token"] != token_before
    assert cookie(client, "gb_session") != cookie_before


async def test_logout_empties_the_session_and_its_token(alice: AuthActions):
    client = alice.client
    await alice.login()
    async with client.session_transaction() as session:
        session["kept"] = "from the login"
        token_during = session["csrf_token"]
    await alice.logout()
    async with client.session_transaction() as session:
        assert "kept" not in session
        assert session.get("csrf_token") != token_during


# --- g.user and login_required ---------------------------------------------------------


async def test_login_required_redirects_pages_to_login_with_next(
    alice: AuthActions,
):
    response = await alice.client.get("/account/sessions")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == ["/account/sessions"]

    response = await alice.client.post(
        f"{location.path}?{location.query}", form={"username": "alice", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/account/sessions"


async def test_login_required_answers_401_to_json(app: Quart, client: CSRFClient):
    response = await client.get("/account/sessions", headers={"Accept": "application/json"})
    assert response.status_code == 401
    response = await client.post(
        "/messages", json={"body": "hello"}, headers={"X-CSRFToken": await client.csrf_token()}
    )
    assert response.status_code == 401
    assert await count_rows(app, Message) == 0


async def test_anonymous_post_is_sent_to_login(app: Quart, client: CSRFClient):
    response = await client.post("/messages", form={"body": "hello"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/auth/login"


# --- the menu bar ----------------------------------------------------------------------


async def test_menu_for_anonymous_visitors(client: CSRFClient):
    html = await page_text(await client.get("/"))
    assert 'href="/auth/signup"' in html
    assert 'href="/auth/login"' in html
    assert "Log out" not in html
    assert "Welcome," not in html


async def test_menu_for_a_logged_in_user(auth: AuthActions):
    await auth.signup()
    html = await page_text(await auth.client.get("/users/alice"))
    assert '<a class="me" href="/users/alice">alice</a>' in html
    assert re.search(r'<a href="/account">Account</a>', html)
    assert re.search(
        r'<form method="post" action="/auth/logout"[^>]*>\s*<input type="hidden" '
        r'name="csrf_token"',
        html,
    )
    assert "Log out</button>" in html
    assert 'href="/auth/signup"' not in html
