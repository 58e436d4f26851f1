"""Many requests at once through one app: nothing lost, nothing mixed up, and a race
for the same name or address ends in one winner and clean 400s, never a 500."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from typing import Any

import pytest
from quart import Quart

from support import PASSWORD, AuthActions, CSRFClient, all_rows, assert_rows_valid, page_text


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "signup_limit": 1000}  # every signup comes from one address


def tab_of(app: Quart, browser: CSRFClient) -> CSRFClient:
    """Another tab of the same browser: the same cookies, its own requests."""
    tab: CSRFClient = app.test_client()
    for cookie in browser.cookie_jar:
        tab.cookie_jar.set_cookie(copy.copy(cookie))
    return tab


async def test_20_members_posting_200_messages_at_once(app: Quart):
    members = [f"member{n:02}" for n in range(20)]
    tabs: list[tuple[str, CSRFClient]] = []
    for name in members:
        browser: CSRFClient = app.test_client()
        assert (await AuthActions(browser).signup(name, PASSWORD)).status_code == 302
        await browser.csrf_token()
        tabs += [(name, tab_of(app, browser)) for _ in range(10)]

    async def post(name: str, tab: CSRFClient, n: int) -> int:
        response = await tab.post("/messages", form={"body": f"{name} says {n}"})
        return response.status_code

    statuses = await asyncio.gather(*(post(name, tab, n) for n, (name, tab) in enumerate(tabs)))

    assert statuses == [302] * 200
    rows = await all_rows(app)
    writers = {user["id"]: user["username"] for user in rows["users"]}
    messages = rows["messages"]
    assert len(messages) == 200
    assert len({m["body"] for m in messages}) == 200
    for message in messages:
        assert message["body"].startswith(f"{writers[message['writer_id']]} says "), message
    assert Counter(writers[m["writer_id"]] for m in messages) == {name: 10 for name in members}


@pytest.mark.parametrize("colliding", ["username", "email"])
async def test_50_signups_racing_for_10_names(app: Quart, colliding: str):
    """Five signups for each of ten names (in different letter cases, as the name is
    case-insensitive), or for each of ten addresses: one wins each, the rest get 400
    and the signup page saying it is taken."""

    def form(n: int) -> dict[str, str]:
        taken = f"racer{n % 10}"
        if n % 2:
            taken = taken.upper()
        mine = f"runner{n}"
        username, email = (taken, mine) if colliding == "username" else (mine, taken)
        return {
            "username": username,
            "email": f"{email}@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }

    async def signup(n: int) -> tuple[int, str, str]:
        response = await app.test_client().post("/auth/signup", form=form(n))
        return n, response.status_code, await page_text(response)

    results = await asyncio.gather(*(signup(n) for n in range(50)))

    winners = [n for n, status, _ in results if status == 302]
    assert sorted(n % 10 for n in winners) == list(range(10))
    for n, status, html in results:
        if n not in winners:
            assert status == 400, (n, status)
            assert "taken" in html or "already exists" in html, n
    rows = await all_rows(app)
    assert len(rows["users"]) == 10
    assert len(rows["login_sessions"]) == 10
    assert len(rows["outbox"]) == 10  # one welcome mail per winner, none for the others
    assert_rows_valid(rows)
