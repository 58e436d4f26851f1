"""Personal access tokens for the JSON API: made on the account page, shown once,
sent as `Authorization: Bearer <token>`.

A token is 256 random bits, so its sha256 is all the table keeps: nothing slower is
needed (a slow hash defends guessable secrets, and no one guesses 256 random bits),
and a fast one lets every API request find its token by an index. A leaked table
cannot be replayed. A token dies with its row: revoked on the account page, with
every other token of a member who is blocked or whose password changes.

Each worker keeps the tokens it found under the logins version, as it keeps logins
(`login_sessions`): triggers bump that number when a token is deleted or changed, and
when an account changes, so a revoked token is refused at once by every worker; a
kept token costs a request the shared "which versions?" question, no lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from quart import current_app, g
from sqlalchemy import delete, select, update

from guestbook.cache import versions
from guestbook.forms import FieldError, check_token_name
from guestbook.i18n import gettext
from guestbook.lib.lru import LRU
from guestbook.limits import ratelimit
from guestbook.models import READ, WRITE, ApiToken, User, utcnow

PREFIX = "gbt_"  # says what a leaked string is, to a person or a secret scanner
TOUCH_EVERY = timedelta(minutes=1)  # as login sessions: no write per request
SCOPES = (READ, WRITE)
KNOWN_CAPACITY = 1024  # the tokens in use within a minute, per worker
_EXT = "guestbook.accounts.api_tokens"


@dataclass(frozen=True)
class _Known:
    """A token and its member as they were at a logins version; shared by the requests
    that find it, so never changed (services write through statements)."""

    version: int
    token: ApiToken


def _known() -> LRU:
    app = current_app._get_current_object()
    return app.extensions.get(_EXT) or app.extensions.setdefault(_EXT, LRU(KNOWN_CAPACITY))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(user: User, name: str, scope: str) -> str:
    """A new token for `user`; returns it, the only time it is ever seen. Raises
    `FieldError` (name, scope) or `TooManyRequests` past the member's limit."""
    name = check_token_name(name)
    if scope not in SCOPES:
        raise FieldError("scope", gettext("Choose read or write."))
    await ratelimit.hit(ratelimit.limits()["token_account"], f"id:{user.id}")
    token = PREFIX + secrets.token_urlsafe(32)
    g.db.add(ApiToken(token_hash=_hash(token), user_id=user.id, name=name, scope=scope))
    await g.db.commit()
    return token


async def authenticate(token: str) -> ApiToken | None:
    """The token's row, with its member, if it is live and its member not blocked
    (blocking deletes their tokens; this also catches a request racing the block).
    Its last use is moved forward at most once a minute."""
    token_hash, now = _hash(token), utcnow()
    # Asked first: a revocation committed after this can only make the number newer
    # than what is kept under it.
    numbers = await versions.current()
    known = _known().get_recent(token_hash)
    if (
        known is not None
        and numbers is not None
        and numbers[1] == known.version
        and now - known.token.last_used_at <= TOUCH_EVERY
    ):
        return known.token
    found = await g.db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))
    if found is None or found.user.blocked_at is not None:
        await g.db.commit()  # ends the read: SQLite has one connection
        return None
    if found.last_used_at is None or now - found.last_used_at > TOUCH_EVERY:
        # A touch forward: the logins version stays (`db.triggers.api_tokens_ddl`).
        await g.db.execute(update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=now))
        found.last_used_at = now
    await g.db.commit()
    # Shared from now on: a rollback of this request's session must not expire them.
    g.db.expunge(found)
    g.db.expunge(found.user)
    if numbers is not None:
        _known().put(token_hash, _Known(numbers[1], found))
    return found


async def of_user(user: User) -> list[ApiToken]:
    found = await g.db.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    )
    return list(found)


async def revoke(user: User, token_id: int) -> bool:
    """Delete one of the member's tokens; False if it was gone already."""
    deleted = await g.db.execute(
        delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    await g.db.commit()
    return deleted.rowcount > 0


async def delete_all(user: User) -> None:
    """Every token of `user` (committed by the caller, with the block or the password
    that ends them)."""
    await g.db.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
