"""Passwords: argon2id, hashed and verified off the event loop, upgraded at login
when their parameters are outdated."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import VerifyMismatchError
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.accounts import passwords
from guestbook.accounts.services import reset_token
from guestbook.models import User
from support import GOOD, NEW_PASSWORD, PASSWORD, AuthActions, CSRFClient, page_text


async def test_hash_is_argon2id_and_verifies(app: Quart):
    async with app.app_context():
        hashed = await passwords.hash_password(PASSWORD)
        assert hashed.startswith("$argon2id$")
        assert PASSWORD not in hashed
        assert await passwords.verify_password(hashed, PASSWORD)
        assert not await passwords.verify_password(hashed, PASSWORD + "!")
        assert not await passwords.verify_password("not a hash", PASSWORD)
        assert await passwords.hash_password(PASSWORD) != hashed  # salted


async def test_an_unknown_name_costs_a_real_verify_in_todays_parameters(app: Quart):
    """The hash a wrong username is checked against is well formed, in the hasher's own
    parameters, and nobody's: argon2 runs in full and refuses (a malformed one would
    be refused at once, and the name's absence would show in the time it takes)."""
    async with app.app_context():
        hashing = passwords._hashing()
        real = await passwords.hash_password(PASSWORD)
        assert extract_parameters(hashing.dummy_hash) == extract_parameters(real)
        assert len(hashing.dummy_hash) == len(real)
        for password in (PASSWORD, "", "not anybody's password"):
            with pytest.raises(VerifyMismatchError):  # not InvalidHashError: it hashed
                hashing.hasher.verify(hashing.dummy_hash, password)


def test_an_app_starts_without_hashing(tmp_path, monkeypatch) -> None:
    """A hash holds 64 MiB and a tenth of a second of CPU: every worker's start paid
    one for the unknown name's check before its hash was built instead."""
    from guestbook import create_app

    hashed: list[str] = []
    monkeypatch.setattr(PasswordHasher, "hash", lambda self, password, **_: hashed.append(password))
    create_app(
        {
            "env": "testing",
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
            "instance_path": tmp_path,
            "mail_backend": "null",
        }
    )
    assert hashed == []


async def test_weaker_parameters_need_a_rehash(app: Quart):
    async with app.app_context():
        assert not passwords.needs_rehash(await passwords.hash_password(PASSWORD))
        weak = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(PASSWORD)
        assert passwords.needs_rehash(weak)


async def _stored_hash(app: Quart) -> str:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.password_hash))


async def _store_hash(app: Quart, password_hash: str) -> None:
    async with db.sessionmaker(app)() as session:
        (await session.scalars(select(User))).one().password_hash = password_hash
        await session.commit()


async def test_outdated_hash_is_upgraded_at_login(app: Quart, auth: AuthActions):
    await auth.signup()
    await auth.logout()
    weak = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1).hash(PASSWORD)
    await _store_hash(app, weak)

    assert (await auth.login()).status_code == 302
    upgraded = await _stored_hash(app)
    assert upgraded != weak
    async with app.app_context():
        assert not passwords.needs_rehash(upgraded)
        assert await passwords.verify_password(upgraded, PASSWORD)


async def test_current_hash_is_kept_at_login(app: Quart, auth: AuthActions):
    await auth.signup()
    await auth.logout()
    before = await _stored_hash(app)
    await auth.login()
    assert await _stored_hash(app) == before


class GatedHasher(PasswordHasher):
    """A real argon2 hasher whose hash and verify, once started, wait for the test
    to open the gate. Run on the event loop, it would stall the loop (and so every
    other request) until the gate's timeout; run in a thread, it does not."""

    def __init__(self, loop: asyncio.AbstractEventLoop, **params: int) -> None:
        super().__init__(**params)
        self.loop = loop
        self.started = asyncio.Event()
        self.gate = threading.Event()

    def _wait_at_gate(self) -> None:
        self.loop.call_soon_threadsafe(self.started.set)
        self.gate.wait(timeout=5)

    def hash(self, password: str | bytes, **kwargs: object) -> str:
        self._wait_at_gate()
        return super().hash(password, **kwargs)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002
        self._wait_at_gate()
        return super().verify(hash, password)


@pytest.mark.parametrize("action", ["signup", "login", "password change", "reset"])
async def test_a_hash_does_not_block_other_visitors(app: Quart, auth: AuthActions, action: str):
    await auth.signup("bob")  # bob has written a message, so the main page needs the database
    await auth.client.post("/messages", form={"body": "first!"})
    await auth.logout()
    if action != "signup":
        await auth.signup()
    if action in ("login", "reset"):
        await auth.logout()
    if action == "reset":
        async with db.sessionmaker(app)() as session:
            alice = await session.scalar(select(User).where(User.username == "alice"))
        async with app.app_context():
            reset_path = f"/auth/reset/{reset_token(alice)}"
    hashing = {
        "signup": auth.signup,
        "login": auth.login,
        "password change": lambda: auth.client.post(
            "/account/password",
            form={
                "current_password": PASSWORD,
                "password": NEW_PASSWORD,
                "password_confirm": NEW_PASSWORD,
            },
        ),
        "reset": lambda: auth.client.post(
            reset_path, form={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        ),
    }[action]

    state = app.extensions[passwords._EXT]
    live = state.hasher
    gated = GatedHasher(
        asyncio.get_running_loop(), time_cost=live.time_cost, memory_cost=live.memory_cost
    )
    app.extensions[passwords._EXT] = dataclasses.replace(state, hasher=gated)

    slow = asyncio.create_task(hashing())
    await gated.started.wait()  # a hash is running now

    visitor: CSRFClient = app.test_client()
    page = await visitor.get("/")
    assert page.status_code == 200
    assert "first!" in await page_text(page)
    assert not slow.done()  # the other visitor was served while the hash ran

    gated.gate.set()
    assert (await slow).status_code == 302
    assert "Welcome, alice!" in await page_text(await auth.client.get("/"))


async def test_signup_stores_a_hash_never_the_password(app: Quart, client: CSRFClient):
    await client.post("/auth/signup", form=GOOD)
    stored = await _stored_hash(app)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_no_more_hashes_at_once_than_cores(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each argon2 hash holds its memory cost while it runs; the slots bound the peak.
    slots = app.extensions[passwords._EXT].slots
    cores = os.cpu_count() or 1
    running, peak = 0, 0
    original = passwords.asyncio.to_thread

    async def counting(work, *args):  # noqa: ANN001, ANN202
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return await original(work, *args)
        finally:
            running -= 1

    monkeypatch.setattr(passwords.asyncio, "to_thread", counting)
    async with app.app_context():
        hashes = await asyncio.gather(
            *(passwords.hash_password(f"password {n}") for n in range(cores + 3))
        )
    assert len(set(hashes)) == cores + 3
    assert 1 <= peak <= cores
    assert not slots.locked()
