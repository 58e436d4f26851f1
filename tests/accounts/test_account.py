"""Your sessions and your password: revoking logins and what a password change ends."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from quart import Quart

from support import (
    NEW_PASSWORD,
    PASSWORD,
    AuthActions,
    CSRFClient,
    login_rows,
    page_text,
    signed_in_as,
)


async def logged_in(app: Quart, username: str = "alice", agent: str = "Browser") -> CSRFClient:
    """A new browser, logged in as `username` (who must exist)."""
    client = app.test_client()
    response = await client.post(
        "/auth/login",
        form={"username": username, "password": PASSWORD},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 302
    return client


@pytest.fixture
async def alice(app: Quart, auth: AuthActions) -> None:
    """alice exists (and is logged out)."""
    await auth.signup()
    await auth.logout()


async def login_id(app: Quart, agent: str) -> int:
    return next(row.id for row in await login_rows(app) if row.user_agent == agent)


async def test_sessions_page_lists_each_login(app: Quart, alice: None):
    laptop = await logged_in(app, agent="Laptop")
    await logged_in(app, agent="Phone")
    html = await page_text(await laptop.get("/account/sessions"))
    assert "Laptop <strong>(this one)</strong>" in html
    assert "Phone" in html
    assert html.count('action="/account/sessions/') == 3  # two revoke buttons and revoke-others


async def test_revoke_one_session_from_another(app: Quart, alice: None):
    laptop = await logged_in(app, agent="Laptop")
    phone = await logged_in(app, agent="Phone")

    response = await laptop.post(
        f"/account/sessions/{await login_id(app, 'Phone')}/revoke", form={}
    )
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/account/sessions"
    assert await signed_in_as(phone) is None
    assert await signed_in_as(laptop) == "alice"
    assert [row.user_agent for row in await login_rows(app)] == ["Laptop"]


async def test_revoking_this_session_logs_out(app: Quart, alice: None):
    laptop = await logged_in(app, agent="Laptop")
    await laptop.post(f"/account/sessions/{await login_id(app, 'Laptop')}/revoke", form={})
    assert await signed_in_as(laptop) is None
    assert await login_rows(app) == []


async def test_cannot_revoke_another_users_session(app: Quart, auth: AuthActions):
    await auth.signup("bob")
    await auth.logout()
    await auth.signup()  # alice, logged in
    bob = await logged_in(app, "bob", agent="BobPhone")

    response = await auth.client.post(
        f"/account/sessions/{await login_id(app, 'BobPhone')}/revoke", form={}
    )
    assert response.status_code == 302
    assert "already ended" in await page_text(await auth.client.get("/account/sessions"))
    assert await signed_in_as(bob) == "bob"


async def test_revoke_others_keeps_only_this_session(app: Quart, alice: None):
    laptop = await logged_in(app, agent="Laptop")
    others = [await logged_in(app, agent=agent) for agent in ("Phone", "Tablet")]

    await laptop.post("/account/sessions/revoke-others", form={})
    assert [await signed_in_as(other) for other in others] == [None, None]
    assert await signed_in_as(laptop) == "alice"
    assert [row.user_agent for row in await login_rows(app)] == ["Laptop"]


async def test_password_change_ends_other_sessions_and_keeps_this_one(app: Quart, alice: None):
    laptop = await logged_in(app, agent="Laptop")
    phone = await logged_in(app, agent="Phone")

    response = await laptop.post(
        "/account/password",
        form={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert await signed_in_as(phone) is None
    assert await signed_in_as(laptop) == "alice"

    fresh = AuthActions(app.test_client())
    assert (await fresh.login(password=PASSWORD)).status_code == 401
    assert (await fresh.login(password=NEW_PASSWORD)).status_code == 302


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (
            {
                "current_password": "wrong one",
                "password": NEW_PASSWORD,
                "password_confirm": NEW_PASSWORD,
            },
            "current_password",
        ),
        (
            {
                "current_password": PASSWORD,
                "password": NEW_PASSWORD,
                "password_confirm": NEW_PASSWORD + "x",
            },
            "password_confirm",
        ),
        (
            {"current_password": PASSWORD, "password": "short", "password_confirm": "short"},
            "password",
        ),
    ],
)
async def test_bad_password_change_changes_nothing(
    app: Quart, alice: None, form: dict[str, str], field: str
):
    laptop = await logged_in(app, agent="Laptop")
    phone = await logged_in(app, agent="Phone")

    response = await laptop.post("/account/password", form=form)
    html = await page_text(response)
    assert response.status_code == 400
    assert f'id="{field}-error"' in html
    assert PASSWORD not in html and NEW_PASSWORD not in html
    assert await signed_in_as(phone) == "alice"
    assert (await AuthActions(app.test_client()).login()).status_code == 302


@pytest.mark.parametrize("path", ["/account/sessions", "/account/password"])
async def test_account_pages_need_a_login(client: CSRFClient, path: str):
    response = await client.get(path)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/auth/login"


async def test_account_posts_need_a_login(app: Quart, alice: None):
    laptop = await logged_in(app, agent="Laptop")
    anonymous = app.test_client()
    change = {
        "current_password": PASSWORD,
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    for path, form in [
        (f"/account/sessions/{await login_id(app, 'Laptop')}/revoke", {}),
        ("/account/sessions/revoke-others", {}),
        ("/account/password", change),
    ]:
        response = await anonymous.post(path, form=form)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/auth/login"
    assert await signed_in_as(laptop) == "alice"
    assert (await AuthActions(app.test_client()).login()).status_code == 302


async def test_guessing_the_current_password_is_rate_limited(app: Quart, alice: None):
    client = await logged_in(app)
    limit = app.config["SETTINGS"].login.limit
    wrong = {
        "current_password": "not it",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    for _ in range(limit):
        assert (await client.post("/account/password", form=wrong)).status_code == 400
    refused = await client.post("/account/password", form={**wrong, "current_password": PASSWORD})
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    # The form's own counter: whoever guesses there does not lock the owner's logins.
    other = app.test_client()
    login = await other.post("/auth/login", form={"username": "alice", "password": PASSWORD})
    assert login.status_code == 302
