"""Attacks, from the attacker's side: stored and reflected XSS, SQL-looking input,
open redirects, CSRF on every POST route, stolen and planted cookies, and what the
answers tell about who has an account.

The routes come from the app's URL map: a new POST route fails
`test_every_post_route_has_a_well_formed_request` until `Scene.request_for` can make
one, and from then on it is checked for CSRF and open redirects like the rest.
"""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from markupsafe import escape
from quart import Quart
from sqlalchemy import func, select

from guestbook import db
from guestbook.accounts import passwords
from guestbook.accounts.services import reset_token
from guestbook.models import Message, Outbox, User
from support import (
    FIELD_NAMES,
    GET_RULES,
    NEW_PASSWORD,
    PASSWORD,
    POST_RULES,
    QUERY_NAMES,
    ROUTES,
    SAME_SITE_RULES,
    TOKEN_RULES,
    AuthActions,
    CSRFClient,
    Scene,
    all_rows,
    bodies,
    cookie,
    fill,
    page_text,
)

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)><xss-probe>{{7*7}}</xss-probe>"
# The markup-looking characters an address may hold (the form refuses <, > and quotes).
XSS_EMAIL = "a&{{7*7}}`(x)=y/z@example.com"
XSS_IP = '"><svg onload=alert(3)>'  # X-Forwarded-For, stored behind one trusted proxy hop
REDIRECTS = (301, 302, 303, 307, 308)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # Attacks repeat requests from one address far more often than the limits allow.
    limits = {
        "login_limit": 10**4,
        "signup_limit": 10**4,
        "forgot_limit": 10**4,
        "token_limit": 10**4,
    }
    return {**settings_overrides, **limits, "proxy_hops": 1}


async def welcomed(client: CSRFClient) -> bool:
    return "Welcome, " in await page_text(await client.get("/"))


class ActiveContent(HTMLParser):
    """What in a page would run script: script elements without src, event-handler
    attributes, javascript: URLs, and the payloads' own elements."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("xss-probe", "svg") or (tag == "script" and "src" not in dict(attrs)):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")


def assert_inert(html: str, where: str) -> None:
    parser = ActiveContent()
    parser.feed(html)
    assert not parser.found, f"{where}: {parser.found}"


def assert_local(location: str, where: str) -> None:
    """A redirect target every browser reads as a path on this site."""
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, f"{where} -> {location!r}"
    assert location.startswith("/") and not location.startswith("//"), f"{where} -> {location!r}"
    assert "\\" not in location and not re.search(r"[\x00-\x20]", location), location


@pytest.mark.parametrize("rule", POST_RULES)
async def test_every_post_route_has_a_well_formed_request(scene: Scene, rule: str):
    path, form = await scene.request_for(rule)
    response = await scene.laptop.post(path, form=form)
    assert response.status_code in REDIRECTS or response.status_code == 200, path


# --- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", TOKEN_RULES)
async def test_post_without_our_token_is_refused_and_writes_nothing(scene: Scene, rule: str):
    """No token, an empty one, or the attacker's own valid token from his own session:
    a 400 page, and every row of every table as it was."""
    path, form = await scene.request_for(rule)
    attackers_token = await scene.app.test_client().csrf_token()
    before = await all_rows(scene.app)

    for sent in (None, "", attackers_token):
        if sent is None:
            response = await scene.laptop.post(path, form=form, csrf=False)
        else:
            response = await scene.laptop.post(path, form={**form, "csrf_token": sent})
        assert response.status_code == 400, (path, sent)
        assert "did not come from this site" in await page_text(response)
        assert await all_rows(scene.app) == before, (path, sent)


def test_only_the_language_switch_and_the_popup_go_without_a_token() -> None:
    assert sorted(SAME_SITE_RULES) == ["/lang", "/popup/skip"]


@pytest.mark.parametrize("rule", SAME_SITE_RULES)
@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}],
    ids=["sec-fetch-site", "origin"],
)
async def test_a_token_free_post_from_another_site_is_refused_and_writes_nothing(
    scene: Scene, rule: str, headers: dict[str, str]
):
    path, form = await scene.request_for(rule)
    before = await all_rows(scene.app)
    response = await scene.laptop.post(path, form=form, csrf=False, headers=headers)
    assert response.status_code == 400
    assert "did not come from this site" in await page_text(response)
    cookies = response.headers.getlist("Set-Cookie")
    assert not any(c.startswith(("lang=", "popup_skip=")) for c in cookies)
    assert await all_rows(scene.app) == before


# --- open redirects ---------------------------------------------------------------------

HOSTILE_TARGETS = [
    "//evil.example/",
    "///evil.example",
    "https://evil.example/",
    "https:evil.example",
    "http:/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",  # browsers drop tabs and newlines inside URLs
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//localhost@evil.example/",
    "\u3002evil.example",
]


@pytest.mark.parametrize("rule", POST_RULES)
async def test_no_post_redirects_off_site(scene: Scene, rule: str):
    """`next` in the query string and in the form of every POST route (login, the
    popup, delete, and any route added later): a redirect stays on this site."""
    for target in HOSTILE_TARGETS:
        path, form = await scene.request_for(rule)
        url = f"{path}?next={quote(target, safe='')}"
        response = await scene.laptop.post(url, form={**form, "next": target})
        assert response.status_code < 400, (url, response.status_code)
        if response.status_code in REDIRECTS:
            assert_local(response.headers["Location"], f"POST {url}")


async def test_no_page_redirects_off_site(scene: Scene):
    """The same for every page, logged in and not (login_required redirects too)."""
    values = await scene.values()
    anonymous = scene.app.test_client()
    redirected = 0
    for rule in GET_RULES:
        for client in (scene.laptop, anonymous):
            for target in HOSTILE_TARGETS:
                path = f"{fill(rule, values)}?next={quote(target, safe='')}"
                response = await client.get(path)
                if response.status_code in REDIRECTS:
                    redirected += 1
                    assert_local(response.headers["Location"], f"GET {path}")
    assert redirected, "no page redirected at all: the test is not testing"


# --- XSS --------------------------------------------------------------------------------


async def test_stored_markup_is_inert_on_every_page(app: Quart):
    """Markup in every field a visitor can store (the username cannot hold any): the
    message body, the email address, the User-Agent and the forwarded address on the
    sessions page. Every page, seen by the writer, another member and a visitor."""
    victim: CSRFClient = app.test_client()
    response = await victim.post(
        "/auth/signup",
        form={
            "username": "mallory",
            "email": XSS_EMAIL,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
        headers={"User-Agent": XSS, "X-Forwarded-For": XSS_IP},
    )
    assert response.status_code == 302
    assert (await victim.post("/messages", form={"body": XSS})).status_code == 302
    member: CSRFClient = app.test_client()
    await AuthActions(member).signup("bob", PASSWORD)

    async with db.sessionmaker(app)() as session:
        mallory = await session.scalar(select(User).where(User.username == "mallory"))
        message_id = await session.scalar(select(Message.id))
        mails = list(await session.scalars(select(Outbox.html_body)))
    assert mallory.email == XSS_EMAIL  # stored as typed
    async with app.app_context():
        token = reset_token(mallory)
    values = {
        "message_id": message_id,
        "token": token,
        "username": "mallory",
        "filename": "style.css",
    }
    shown: dict[str, str] = {}
    for rule in GET_RULES:
        for who, client in (("mallory", victim), ("bob", member), ("anonymous", app.test_client())):
            response = await client.get(fill(rule, values))
            if response.mimetype == "text/html":
                html = await page_text(response)
                assert_inert(html, f"{who} GET {rule}")
                shown[f"{who} {rule}"] = html

    # The payloads were on the pages (escaped), so the check above looked at them.
    for page in ("/", "/users/<username>", "/messages/<int:message_id>/edit"):
        assert str(escape(XSS)) in shown[f"mallory {page}"], page
    sessions = shown["mallory /account/sessions"]
    assert str(escape(XSS)) in sessions and str(escape(XSS_IP)) in sessions
    for html in mails:
        assert_inert(html, "mail")


@pytest.mark.parametrize(("rule", "method"), ROUTES, ids=[f"{m} {r}" for r, m in ROUTES])
async def test_reflected_markup_is_inert(scene: Scene, rule: str, method: str):
    """Markup in every query parameter, path segment and form field, on every route,
    logged in and not: whatever comes back says it as text."""
    values = {**await scene.values(), "username": XSS, "token": XSS, "filename": XSS}
    path = fill(rule, {k: quote(str(v), safe="") for k, v in values.items()})
    path += "?" + "&".join(f"{name}={quote(XSS)}" for name in QUERY_NAMES)
    forms = [
        {name: XSS for name in FIELD_NAMES if name != "csrf_token"},
        {name: XSS for name in FIELD_NAMES if name != "csrf_token"} | {"email": XSS_EMAIL},
    ]
    for client in (scene.laptop, scene.app.test_client()):
        for form in forms if method == "POST" else [None]:
            if form is None:
                response = await client.get(path)
            else:
                response = await client.post(path, form=form)
            if response.mimetype == "text/html":
                assert_inert(await page_text(response), f"{method} {path} {form}")


# --- SQL-looking input ------------------------------------------------------------------

SQL_LOOKING = [
    "'); DROP TABLE messages; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; SELECT pg_sleep(5); --",
    "%",
    "_%_",
    "\\'; --",
    "$1 $$ :name ?",
]


async def test_sql_looking_input_is_stored_literally(app: Quart, auth: AuthActions, client):
    await auth.signup("alice", PASSWORD)
    for body in SQL_LOOKING:
        assert (await client.post("/messages", form={"body": body})).status_code == 302
    async with db.sessionmaker(app)() as session:
        stored = list(await session.scalars(select(Message.body)))
    assert sorted(stored) == sorted(SQL_LOOKING)
    html = await page_text(await client.get("/"))
    # Each is shown as its text. Markdown reads two of them: `\'` is an escaped quote,
    # `_%_` an emphasised percent sign.
    shown = {body: body for body in SQL_LOOKING} | {"\\'; --": "'; --", "_%_": "%"}
    assert sorted(bodies(html)) == sorted(shown.values())
    assert "<em>%</em>" in html
    rows = await all_rows(app)  # every table is still there
    assert len(rows["users"]) == 1 and len(rows["messages"]) == len(SQL_LOOKING)


async def test_wildcards_and_quotes_find_no_one(app: Quart, auth: AuthActions, client):
    """Lookups compare whole names: `_` and `%` are characters, not patterns."""
    await auth.signup("alice", PASSWORD)
    await auth.logout()
    for ident in ("al_ce", "%", "a%", "_lice@example.com", "%@example.com", "alice' --"):
        response = await auth.login(ident, PASSWORD)
        assert response.status_code == 401, ident
    for name in ("al_ce", "%25", "a%25", "_____"):
        assert (await client.get(f"/users/{name}")).status_code == 404, name
    assert (await AuthActions(app.test_client()).signup("al_ce", PASSWORD)).status_code == 302


# --- stolen and planted cookies ---------------------------------------------------------


async def end_by_logout(scene: Scene) -> None:
    await AuthActions(scene.laptop).logout()


async def end_by_revoke(scene: Scene) -> None:
    await scene.phone.post(f"/account/sessions/{scene.laptop_login}/revoke", form={})


async def end_by_revoke_others(scene: Scene) -> None:
    await scene.phone.post("/account/sessions/revoke-others", form={})


async def end_by_password_change(scene: Scene) -> None:
    form = {
        "current_password": PASSWORD,
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    assert (await scene.phone.post("/account/password", form=form)).status_code == 302


async def end_by_password_reset(scene: Scene) -> None:
    path = fill("/auth/reset/<token>", await scene.values())
    form = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    assert (await scene.app.test_client().post(path, form=form)).status_code == 302


@pytest.mark.parametrize(
    "end",
    [
        end_by_logout,
        end_by_revoke,
        end_by_revoke_others,
        end_by_password_change,
        end_by_password_reset,
    ],
    ids=lambda end: end.__name__.removeprefix("end_by_"),
)
async def test_a_stolen_cookie_dies_with_the_login(scene: Scene, end):
    """A thief with a copy of every cookie of the laptop (login, session and CSRF token)
    is Alice until that login ends, and then can neither read nor write as her."""
    thief: CSRFClient = scene.app.test_client()
    for stolen in scene.laptop.cookie_jar:
        thief.cookie_jar.set_cookie(copy.copy(stolen))
    token = await scene.laptop.csrf_token()
    assert await welcomed(thief)

    await end(scene)

    assert not await welcomed(thief)
    assert (await thief.get("/account/sessions")).status_code == 302  # to the login page
    for stolen in scene.laptop.cookie_jar:  # the thief keeps using his copies
        thief.cookie_jar.set_cookie(copy.copy(stolen))
    await thief.post("/messages", form={"body": "by the thief", "csrf_token": token})
    async with db.sessionmaker(scene.app)() as session:
        assert not await session.scalar(select(func.count()).where(Message.body == "by the thief"))


@pytest.mark.parametrize("how", ["login", "signup", "reset"])
async def test_a_planted_session_cookie_is_replaced_when_logging_in(app: Quart, how: str):
    """Session fixation: the attacker gets a session cookie of his own and plants it in
    the victim's browser. Whichever way the victim logs in, the session after it is new,
    and the CSRF token the attacker knows is worthless there."""
    await AuthActions(app.test_client()).signup("alice", PASSWORD)
    attacker: CSRFClient = app.test_client()
    await attacker.get("/auth/login")
    attackers_token = await attacker.csrf_token()
    planted = cookie(attacker, "gb_session")
    victim: CSRFClient = app.test_client()
    victim.set_cookie("localhost", "gb_session", planted)

    if how == "login":
        response = await AuthActions(victim).login("alice", PASSWORD)
    elif how == "signup":
        response = await AuthActions(victim).signup("victim", PASSWORD)
    else:
        async with db.sessionmaker(app)() as session:
            alice = await session.scalar(select(User))
        async with app.app_context():
            path = f"/auth/reset/{reset_token(alice)}"
        form = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        response = await victim.post(path, form=form)
    assert response.status_code == 302

    assert cookie(victim, "gb_session") not in (None, planted)
    assert await welcomed(victim) and not await welcomed(attacker)
    response = await victim.post("/messages", form={"body": "x", "csrf_token": attackers_token})
    assert response.status_code == 400


# --- who has an account? ----------------------------------------------------------------


def normalised(html: str, *said: str) -> str:
    """The page with what differs by design taken out: the CSRF token, the countdown and
    the words the visitor typed, which the page repeats."""
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
    # The header's countdown, which may turn a minute between the two requests.
    html = re.sub(r'(?s)<p class="countdown".*?</p>', "", html)
    for words in said:
        html = html.replace(str(escape(words)), "TYPED")
    return html


async def test_login_answers_members_and_strangers_alike(app: Quart, monkeypatch):
    """The same status, page and work (one password verification) for a wrong password
    and for an account that does not exist, by username and by email."""
    await AuthActions(app.test_client()).signup("alice", PASSWORD)
    verified: list[str] = []
    verify = passwords.verify_password

    async def counting(password_hash: str, password: str) -> bool:
        verified.append(password)
        return await verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    for member, stranger in (("alice", "zelda"), ("alice@example.com", "zelda@example.com")):
        answers = []
        for ident in (member, stranger):
            verified.clear()
            response = await AuthActions(app.test_client()).login(ident, "wrong password")
            html = normalised(await page_text(response), ident)
            answers.append((response.status_code, html, len(verified)))
        assert answers[0] == answers[1]
        assert answers[0][0] == 401 and answers[0][2] == 1


async def test_login_limit_stops_members_and_strangers_alike(app: Quart):
    """Names without an account are limited like members' names: from one address the
    fourth attempt is refused for both; from others, neither is locked."""
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(login_limit=3)
    await AuthActions(app.test_client()).signup("alice", PASSWORD)
    for n, ident in enumerate(("alice", "zelda")):
        statuses = {"one address": [], "many addresses": []}
        for attempt in range(4):
            for how, last in (("one address", 0), ("many addresses", attempt)):
                response = await app.test_client().post(
                    "/auth/login",
                    form={"username": ident, "password": "wrong password"},
                    headers={
                        "X-Forwarded-For": f"192.0.2.{100 * (how == 'one address') + 10 * n + last}"
                    },
                )
                statuses[how].append(response.status_code)
        assert statuses == {
            "one address": [401, 401, 401, 429],
            "many addresses": [401, 401, 401, 401],
        }, ident


async def test_forgot_answers_members_and_strangers_alike(app: Quart):
    await AuthActions(app.test_client()).signup("alice", PASSWORD)
    answers = []
    for email in ("alice@example.com", "zelda@example.com"):
        response = await app.test_client().post("/auth/forgot", form={"email": email})
        answers.append((response.status_code, normalised(await page_text(response), email)))
    assert answers[0] == answers[1]


async def test_signup_still_tells_what_is_taken(app: Quart):
    """What remains (README, Security): signup must say a name or address is taken, so
    it reveals that an account exists. Usernames are public anyway (profiles); for
    addresses the signup rate limit per IP is the only brake."""
    await AuthActions(app.test_client()).signup("alice", PASSWORD)
    response = await AuthActions(app.test_client()).signup("zelda", PASSWORD, "alice@example.com")
    assert response.status_code == 400
    assert "An account with that email already exists." in await page_text(response)
