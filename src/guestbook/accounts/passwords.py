"""Password hashing with argon2id, always off the event loop.

A hash costs tens of milliseconds of CPU on purpose; run on the loop it would stall
every other visitor for that long, so each call goes through `asyncio.to_thread`.
Each hash also holds `argon2_memory_kib` (64 MiB) while it runs, so no more run at
once than there are cores: more would not finish sooner, only take more memory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION
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
    app.extensions[_EXT] = Hashing(hasher, _unmatchable_hash(hasher), slots)


def _unmatchable_hash(hasher: PasswordHasher) -> str:
    """A hash in `hasher`'s parameters of no password anyone knows: a random digest
    beside a random salt. Verifying against it costs a real verify, as a hash made at
    start would, without a worker's start paying one (and its 64 MiB at once)."""
    salt, digest = (
        b64encode(secrets.token_bytes(length)).decode().rstrip("=")
        for length in (hasher.salt_len, hasher.hash_len)
    )
    parameters = f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
    return f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}${parameters}${salt}${digest}"


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
