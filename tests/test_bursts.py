"""Bursts: attempts fired together (asyncio.gather) never get past a limit, because
each takes its slot with one atomic increment before the work it guards. Every test
runs on the in-memory store and on Redis (a key prefix of its own per test)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select

from guestbook import db
from guestbook.models import LoginSession, Message, Outbox, User
from support import PASSWORD, AuthActions, CSRFClient, Seed, count_rows, from_ip

LIMIT = 3
BURST = 30


@pytest.fixture(params=["memory", "redis"])
def settings_overrides(request: pytest.FixtureRequest, settings_overrides: dict[str, Any]):
    overrides = {
        **settings_overrides,
        "login_limit": LIMIT,
        "signup_limit": LIMIT,
        "forgot_limit": LIMIT,
        "post_limit": LIMIT,
    }
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
        overrides["redis_prefix"] = f"gb-test-{secrets.token_hex(6)}:"
    return overrides


async def together(client: CSRFClient, path: str, forms: list[dict[str, str]]) -> list[int]:
    """POST every form at once from one browser; the status codes, in order."""
    token = await client.csrf_token()
    responses = await asyncio.gather(
        *(client.post(path, form={**form, "csrf_token": token}) for form in forms)
    )
    return [response.status_code for response in responses]


@pytest.fixture
async def alice(auth: AuthActions, seed: Seed) -> AuthActions:
    await seed.member("alice")
    return auth


async def test_a_login_burst_lets_only_the_limit_reach_the_password(app: Quart, alice: AuthActions):
    """30 at once, the right password 25th: at most the limit are checked, the rest
    are refused before the check, and the right password past the limit never logs in."""
    forms = [
        {"username": "alice", "password": PASSWORD if n == 24 else "wrong"} for n in range(BURST)
    ]
    statuses = await together(alice.client, "/auth/login", forms)
    assert statuses.count(429) == BURST - LIMIT
    assert set(statuses) - {429} <= {302, 401}
    assert await count_rows(app, LoginSession) == statuses.count(302)
    refused = await alice.client.post(
        "/auth/login", form={"username": "alice", "password": PASSWORD}
    )
    assert refused.status_code == 429


async def test_a_password_change_burst_with_a_stolen_cookie_is_limited(
    app: Quart, alice: AuthActions
):
    await alice.login()
    wrong = {
        "current_password": "guess",
        "password": "new password",
        "password_confirm": "new password",
    }
    statuses = await together(alice.client, "/account/password", [wrong] * BURST)
    assert (statuses.count(400), statuses.count(429)) == (LIMIT, BURST - LIMIT)


async def test_a_forgot_password_burst_queues_only_the_limit(app: Quart, alice: AuthActions):
    statuses = await together(
        alice.client, "/auth/forgot", [{"email": "alice@example.com"}] * BURST
    )
    assert (statuses.count(200), statuses.count(429)) == (LIMIT, BURST - LIMIT)
    async with db.sessionmaker(app)() as session:
        resets = await session.scalar(select(func.count()).where(Outbox.subject.like("Reset%")))
    assert resets == LIMIT


async def test_a_signup_burst_adds_only_the_limit(app: Quart, client: CSRFClient):
    forms = [
        {
            "username": f"user{n}",
            "email": f"user{n}@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
        for n in range(BURST)
    ]
    statuses = await together(client, "/auth/signup", forms)
    assert (statuses.count(302), statuses.count(429)) == (LIMIT, BURST - LIMIT)
    assert await count_rows(app, User) == LIMIT


async def test_a_posting_burst_writes_only_the_limit(app: Quart, alice: AuthActions):
    await alice.login()
    # Each text its own: the same one twice would be refused as a repeat (spam.py).
    forms = [{"body": f"hello {n}"} for n in range(BURST)]
    statuses = await together(alice.client, "/messages", forms)
    assert (statuses.count(302), statuses.count(429)) == (LIMIT, BURST - LIMIT)
    assert await count_rows(app, Message) == LIMIT


async def test_a_burst_from_one_address_does_not_lock_the_owner_out(app: Quart, alice: AuthActions):
    attacker = app.test_client()
    token = await attacker.csrf_token()
    await asyncio.gather(
        *(
            attacker.post(
                "/auth/login",
                form={"username": "alice", "password": "wrong", "csrf_token": token},
                **from_ip("10.9.0.1"),
            )
            for _ in range(BURST)
        )
    )
    owner = await alice.client.post(
        "/auth/login", form={"username": "alice", "password": PASSWORD}, **from_ip("10.9.0.2")
    )
    assert owner.status_code == 302
