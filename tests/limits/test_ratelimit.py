"""Rate limits: failed logins per login name and address, per address, and the per-name
ceiling that slows; signups per IP, messages per member; 429 with Retry-After; the
in-memory store and the Redis one. Bursts are in tests/test_bursts.py."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
from quart import Quart

from guestbook.limits import ratelimit
from guestbook.models import Message, User
from support import (
    PASSWORD,
    AuthActions,
    CSRFClient,
    count_rows,
    from_ip,
    page_text,
    serving,
)

LIMIT = 3
CEILING = 2 * LIMIT
SLOWDOWN = 0.3


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_overrides,
        "login_limit": LIMIT,
        "login_ceiling": CEILING,
        "login_slowdown_seconds": SLOWDOWN,
        "signup_limit": LIMIT,
        "post_limit": LIMIT,
    }


async def login(client: CSRFClient, username: str, password: str, ip: str = "10.0.0.1"):
    return await client.post(
        "/auth/login", form={"username": username, "password": password}, **from_ip(ip)
    )


def assert_too_many(response, window: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= window


@pytest.fixture
async def alice(auth: AuthActions) -> AuthActions:
    await auth.signup()
    await auth.logout()
    return auth


async def test_failed_logins_are_limited_per_name_and_address(alice: AuthActions):
    client = alice.client
    for _ in range(LIMIT):
        assert (await login(client, "alice", "wrong password")).status_code == 401
    # From that address, the name is used up however it is spelled ...
    for spelling in ("alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45"):  # fullwidth
        assert_too_many(await login(client, spelling, PASSWORD), 60)
    assert "Too many attempts" in await page_text(await login(client, "alice", PASSWORD))
    # ... but the owner, from an address that has not failed, logs in.
    assert (await login(client, "alice", PASSWORD, ip="10.0.0.2")).status_code == 302


async def test_failed_logins_are_limited_per_address(alice: AuthActions):
    """One address trying many names gets five times a name's allowance."""
    client = alice.client
    for n in range(5 * LIMIT):
        assert (await login(client, f"nobody{n}", "wrong password")).status_code == 401
    assert_too_many(await login(client, "alice", PASSWORD), 60)
    assert (await login(client, "alice", PASSWORD, ip="10.0.0.2")).status_code == 302


async def test_a_refusal_tells_nothing_about_who_has_an_account(alice: AuthActions):
    """Names are counted as typed, known or not: the same answers for alice and for a
    name nobody has, and alice's email answers like anyone's while her name is used up."""
    client = alice.client

    async def statuses(name: str, ip: str) -> list[int]:
        return [(await login(client, name, "wrong", ip=ip)).status_code for _ in range(LIMIT + 1)]

    assert await statuses("alice", "10.2.0.1") == [401] * LIMIT + [429]
    assert await statuses("nobody", "10.2.0.2") == [401] * LIMIT + [429]
    assert await statuses("alice@example.com", "10.2.0.3") == [401] * LIMIT + [429]
    assert await statuses("nobody@example.com", "10.2.0.4") == [401] * LIMIT + [429]
    for email in ("alice@example.com", "nobody@example.com"):
        assert (await login(client, email, "wrong", ip="10.2.0.1")).status_code == 401


async def test_the_ceiling_on_a_name_slows_the_owner_but_never_locks_them_out(alice: AuthActions):
    client = alice.client
    for n in range(CEILING):  # every address within its own allowance
        assert (await login(client, "alice", "wrong", ip=f"10.3.0.{n}")).status_code == 401
    started = time.monotonic()
    assert (await login(client, "alice", PASSWORD, ip="10.3.1.1")).status_code == 302
    assert time.monotonic() - started >= SLOWDOWN
    # Another name is not slowed by alice's ceiling.
    await AuthActions(client).signup("bob")
    started = time.monotonic()
    assert (await login(client, "bob", PASSWORD, ip="10.3.1.1")).status_code == 302
    assert time.monotonic() - started < SLOWDOWN


async def test_successful_logins_are_not_counted(alice: AuthActions):
    for _ in range(LIMIT + 1):
        assert (await alice.login()).status_code == 302
        await alice.logout()


async def test_signups_are_limited_per_ip(app: Quart, client: CSRFClient):
    auth = AuthActions(client)
    for n in range(LIMIT):
        assert (await auth.signup(f"user{n}")).status_code == 302
    assert_too_many(await auth.signup("onemore"), 3600)
    assert await count_rows(app, User) == LIMIT


async def test_messages_are_limited_per_member_and_the_text_is_kept(
    app: Quart, client: CSRFClient, auth: AuthActions
):
    await auth.signup("alice")
    for n in range(LIMIT):
        assert (await client.post("/messages", form={"body": f"note {n}"})).status_code == 302
    response = await client.post("/messages", form={"body": "one & more"})
    assert_too_many(response, 600)
    page = await response.get_data(as_text=True)
    assert "You have written a lot in a short time" in page
    assert ">one &amp; more</textarea>" in page  # what they wrote is still in the form
    assert await count_rows(app, Message) == LIMIT
    # The limit is the member's, not everyone's.
    await auth.logout()
    await auth.signup("bob")
    assert (await client.post("/messages", form={"body": "hi"})).status_code == 302
    assert await count_rows(app, Message) == LIMIT + 1


async def test_a_refused_message_does_not_count(client: CSRFClient, auth: AuthActions):
    """Blank or too long is a 400 for the text, not a use of the member's allowance."""
    await auth.signup("alice")
    for _ in range(LIMIT + 1):
        assert (await client.post("/messages", form={"body": "  "})).status_code == 400
    assert (await client.post("/messages", form={"body": "counted"})).status_code == 302


# --- the stores --------------------------------------------------------------------------


async def test_memory_store_starts_a_new_window(monkeypatch: pytest.MonkeyPatch):
    store = ratelimit.MemoryStore()
    limit = ratelimit.Limit("test", 2, 60)
    now = 1_000_000.0
    monkeypatch.setattr(ratelimit.time, "time", lambda: now)
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now)

    key, _ = ratelimit._key(limit, "x")
    assert [await store.incr(key, limit.seconds) for _ in range(3)] == [1, 2, 3]
    await store.decr(key)
    assert await store.incr(key, limit.seconds) == 3  # a slot given back
    now += 60
    next_key, _ = ratelimit._key(limit, "x")
    assert next_key != key
    await store.decr(key)  # expired: nothing to give back, nothing made
    assert await store.incr(key, limit.seconds) == 1
    assert await store.incr(next_key, limit.seconds) == 1


async def test_redis_store_shares_counts_between_apps(
    settings_overrides: dict[str, Any], redis_url: str, app: Quart
):
    """Two processes' worth of app on one database (made by `app`), one Redis."""
    overrides = {**settings_overrides, "redis_url": redis_url}
    async with serving(overrides) as first, serving(overrides) as second:
        assert isinstance(ratelimit.store(first), ratelimit.RedisStore)
        # A fresh address and name per run: other test runs may share this Redis.
        ip = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
        name = f"nobody-{secrets.token_hex(4)}"
        clients = [first.test_client(), second.test_client()]
        for n in range(LIMIT):
            response = await login(clients[n % 2], name, "wrong password", ip=ip)
            assert response.status_code == 401
        for client in clients:
            assert_too_many(await login(client, name, "wrong password", ip=ip), 60)


async def test_unreachable_redis_falls_back_to_memory(
    settings_overrides: dict[str, Any], app: Quart, caplog: pytest.LogCaptureFixture
):
    # Nothing listens on port 1: every Redis call fails at once.
    async with serving({**settings_overrides, "redis_url": "redis://127.0.0.1:1/0"}) as down:
        client = down.test_client()
        for _ in range(LIMIT):
            assert (await login(client, "nobody", "wrong password")).status_code == 401
        assert_too_many(await login(client, "nobody", "wrong password"), 60)
    assert "Redis unreachable" in caplog.text
