"""Password hashing with argon2id, always off the event loop.

A hash costs tens of milliseconds of CPU on purpose; run on the loop it would stall
every other visitor for that long, so each call goes through `asyncio.to_thread`.
Each hash also holds `argon2_memory_kib` (64 MiB) while it runs, so no more run at
once than there are cores: more would not finish sooner, only take more memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from quart import Quart, current_app

from guestbook.config import Settings

_EXT = "guestbook.accounts.passwords"
T = TypeVar("T")


@dataclass(frozen=True)
class Hashing:
    """An app's hasher, made once in `init_app`."""

    hasher: PasswordHasher
    # A real hash to verify against when the account does not exist, so a wrong
    # username costs the same time as a wrong password (no enumeration by timing).
    dummy_hash: str
    slots: asyncio.Semaphore  # hashes running at once


def init_app(app: Quart, settings: Settings) -> None:
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )
    slots = asyncio.Semaphore(os.cpu_count() or 1)
    app.extensions[_EXT] = Hashing(hasher, hasher.hash("not anybody's password"), slots)


def _hashing() -> Hashing:
    return current_app.extensions[_EXT]


async def _off_the_loop(work: Callable[..., T], *args: str) -> T:
    async with _hashing().slots:
        return await asyncio.to_thread(work, *args)


async def hash_password(password: str) -> str:
    return await _off_the_loop(_hashing().hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    try:
        return await _off_the_loop(_hashing().hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's settings."""
    return _hashing().hasher.check_needs_rehash(password_hash)


async def dummy_verify(password: str) -> None:
    await verify_password(_hashing().dummy_hash, password)
