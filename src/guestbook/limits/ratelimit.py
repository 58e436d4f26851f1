"""Fixed-window rate limits behind a small interface: in memory, or Redis.

An attempt takes its slot (one atomic increment) before the work it guards, never
"check, work, then count": of a burst of concurrent attempts at most the limit get
through, however they interleave. Work that succeeded may give its slot back.

In memory suits one process. With several processes or hosts the counts must be
shared, so `GUESTBOOK_REDIS_URL` puts them in Redis. If Redis goes away the app
keeps serving on per-process counts and logs a warning; `/readyz` reports it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from quart import Quart, current_app
from werkzeug.exceptions import TooManyRequests

from guestbook import config
from guestbook.config import Settings
from guestbook.i18n import gettext
from guestbook.metrics import RATE_LIMITED

log = logging.getLogger(__name__)
_EXT = "guestbook.limits.ratelimit"


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int


class Store(Protocol):
    async def incr(self, key: str, seconds: int) -> int: ...
    async def decr(self, key: str) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}

    async def incr(self, key: str, seconds: int) -> int:
        now = time.monotonic()
        count, expires = self._counts.get(key, (0, now + seconds))
        if expires <= now:
            count, expires = 0, now + seconds
        self._counts[key] = (count + 1, expires)
        if len(self._counts) > 100_000:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return count + 1

    async def decr(self, key: str) -> None:
        count, expires = self._counts.get(key, (0, 0.0))
        if count > 0 and expires > time.monotonic():
            self._counts[key] = (count - 1, expires)


_DECR_IF_LIVE = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end"


class RedisStore:
    """Counts in Redis; on any Redis error, counts in memory until Redis is back."""

    def __init__(self, url: str, prefix: str = "") -> None:
        import redis.asyncio as redis  # optional dependency: guestbook[redis]

        self.prefix = prefix
        self.client = redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.fallback = MemoryStore()
        self.healthy = True

    def _failed(self, exc: Exception) -> None:
        if self.healthy:
            log.warning("Redis unreachable (%s); rate limits are per-process until it is back", exc)
        self.healthy = False

    def _recovered(self) -> None:
        if not self.healthy:
            log.warning("Redis is back; rate limits are shared again")
        self.healthy = True

    async def incr(self, key: str, seconds: int) -> int:
        key = self.prefix + key
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, seconds, nx=True).execute()
        except Exception as exc:  # any Redis failure: keep serving
            self._failed(exc)
            return await self.fallback.incr(key, seconds)
        self._recovered()
        return int(count)

    async def decr(self, key: str) -> None:
        key = self.prefix + key
        try:
            # Only a live count: DECR on a key that expired would make one without a TTL.
            await self.client.eval(_DECR_IF_LIVE, 1, key)
        except Exception as exc:
            self._failed(exc)
            await self.fallback.decr(key)
            return
        self._recovered()

    async def ping(self) -> bool:
        try:
            await self.client.ping()
        except Exception as exc:
            self._failed(exc)
            return False
        self._recovered()
        return True

    async def close(self) -> None:
        await self.client.aclose()


class LimitReached(TooManyRequests):
    """A 429 that says which limit was reached and when its window ends: `Retry-After`,
    and the IETF draft's `RateLimit-Policy` and `RateLimit` headers."""

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(
            gettext("Too many attempts. Please wait a little and try again."),
            retry_after=retry_after,
        )
        self.limit = limit

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        name, seconds = f'"{self.limit.name}"', int(self.retry_after)  # type: ignore[arg-type]
        return [
            *super().get_headers(*args, **kwargs),
            ("RateLimit-Policy", f"{name};q={self.limit.count};w={self.limit.seconds}"),
            ("RateLimit", f"{name};r=0;t={seconds}"),
        ]


def _key(limit: Limit, subject: str) -> tuple[str, int]:
    window = int(time.time() // limit.seconds)
    retry_after = math.ceil((window + 1) * limit.seconds - time.time())
    return f"rl:{limit.name}:{window}:{subject}", max(retry_after, 1)


def limits() -> dict[str, Limit]:
    """Every limit of the app, from its settings. Login names are counted as typed
    (canonical), never as the account they turn out to name: an unknown name is
    limited exactly like a known one, so a 429 tells nothing about who has an account."""
    s = config.current()
    return {
        # One address guessing one name; one address trying many names.
        "login_name_ip": Limit("login-name-ip", s.login.limit, s.login.window_seconds),
        "login_ip": Limit("login-ip", 5 * s.login.limit, s.login.window_seconds),
        # Every address together on one name: past it attempts are slowed, not refused.
        "login_name": Limit("login-name", s.login_ceiling, s.login.window_seconds),
        # Wrong current passwords on the password form, per account.
        "password_account": Limit("password-account", s.login.limit, s.login.window_seconds),
        "signup_ip": Limit("signup-ip", s.signup.limit, s.signup.window_seconds),
        "forgot_ip": Limit("forgot-ip", s.forgot.limit, s.forgot.window_seconds),
        "post_account": Limit("post-account", s.post.limit, s.post.window_seconds),
        "edit_account": Limit("edit-account", s.edit.limit, s.edit.window_seconds),
        "language_account": Limit("language-account", s.language.limit, s.language.window_seconds),
        "like_account": Limit("like-account", s.like.limit, s.like.window_seconds),
        "token_account": Limit("token-account", s.token.limit, s.token.window_seconds),
    }


def store(app: Quart | None = None) -> Store:
    return (app or current_app).extensions[_EXT]


async def take(limit: Limit, subject: str) -> int | None:
    """Take one of `subject`'s slots; None if it was within `limit`, else the
    seconds until the window ends (the slot stays taken: refusals count too)."""
    key, retry_after = _key(limit, subject)
    if await store().incr(key, limit.seconds) <= limit.count:
        return None
    RATE_LIMITED.labels(limit.name).inc()
    return retry_after


async def hit(limit: Limit, subject: str) -> None:
    """Take one slot; raise 429 if `subject` has none left."""
    retry_after = await take(limit, subject)
    if retry_after is not None:
        raise LimitReached(limit, retry_after)


async def give_back(limit: Limit, subject: str) -> None:
    """Return a slot taken in this window, for work that should not count (a login
    with the right password)."""
    await store().decr(_key(limit, subject)[0])


async def readiness() -> str | None:
    """For `/readyz`: whether the shared store answers (None without Redis)."""
    limits_store = store()
    if not isinstance(limits_store, RedisStore):
        return None
    return "ok" if await limits_store.ping() else "unavailable (rate limits per-process)"


def init_app(app: Quart, settings: Settings) -> None:
    if settings.redis_url:
        redis_store = RedisStore(settings.redis_url, settings.redis_prefix)
        app.extensions[_EXT] = redis_store
        app.after_serving(redis_store.close)
    else:
        app.extensions[_EXT] = MemoryStore()
