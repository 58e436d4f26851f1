"""Rate limits: failed logins per IP and per account, signups per IP, messages per
member; 429 with Retry-After; the in-memory store and the Redis one."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
from quart import Quart

from conftest import IN_CI, PASSWORD, AuthActions, CSRFClient, page_text, serving
from guestbook import ratelimit
from guestbook.models import Message, User
from test_auth import count_rows

REDIS_URL = os.environ.get("GUESTBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT = 3


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "login_limit": LIMIT, "signup_limit": LIMIT, "post_limit": LIMIT}


def from_ip(ip: str) -> dict[str, Any]:
    """Test-client keyword arguments for a request from `ip`."""
    return {"scope_base": {"client": (ip, 40000)}}


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


async def test_failed_logins_are_limited_per_ip(alice: AuthActions):
    client = alice.client
    for n in range(LIMIT):
        assert (await login(client, f"nobody{n}", "wrong password")).status_code == 401
    # Over the limit even the right password is refused from this address ...
    response = await login(client, "alice", PASSWORD)
    assert_too_many(response, 60)
    assert "Too many attempts" in await page_text(response)
    # ... but not from another one.
    assert (await login(client, "alice", PASSWORD, ip="10.0.0.2")).status_code == 302


@pytest.mark.parametrize("names", [["alice"], ["alice", "ALICE", "alice@example.com"]])
async def test_failed_logins_are_limited_per_account(alice: AuthActions, names: list[str]):
    """However the account is named, from however many addresses."""
    client = alice.client
    for n in range(LIMIT):
        response = await login(client, names[n % len(names)], "wrong password", ip=f"10.1.0.{n}")
        assert response.status_code == 401
    assert_too_many(await login(client, "alice", PASSWORD, ip="10.1.1.1"), 60)
    # Another account from the same addresses is not affected.
    await AuthActions(client).signup("bob")
    assert (await login(client, "bob", PASSWORD, ip="10.1.1.1")).status_code == 302


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
    now += 60
    next_key, _ = ratelimit._key(limit, "x")
    assert next_key != key
    assert await store.get(key) == 0  # expired
    assert await store.incr(next_key, limit.seconds) == 1


@pytest.fixture
async def redis_url() -> str:
    """The Redis server; in CI its absence is a failure, elsewhere a skip."""
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI but unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


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
