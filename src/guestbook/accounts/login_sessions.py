"""Server-side login sessions: the lecture's "session id -> data" table, made real.

quart-auth signs and sets the login cookie; what it carries (`auth_id`) is a random
256-bit token, never the user id. The database keeps only the token's sha256, so a
leaked table cannot be replayed, and deleting a row ends that login everywhere at
once: logout, "sign out other sessions" and a password change all do that.

Each worker keeps the logins it found under the logins version, a number beside the
content version (`cache.versions`) that triggers bump whenever a login ends or an
account changes: a member's request asks only the shared "which versions?" question,
and looks the cookie up again when that number moved or the login is due its
once-a-minute touch.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from quart import current_app, g, request, session
from quart_auth import AuthUser, login_user, logout_user
from sqlalchemy import bindparam, delete, select
from werkzeug.exceptions import Forbidden

from guestbook import config
from guestbook.cache import versions
from guestbook.cache.versions import NEWEST_EVENT, VERSIONS
from guestbook.forms import printable
from guestbook.i18n import N_, gettext
from guestbook.lib.lru import LRU
from guestbook.models import IP_MAX, USER_AGENT_MAX, ContentVersion, LoginSession, User, utcnow
from guestbook.web.cookies import login_auth_id
from guestbook.web.csrf import csrf_token

TOUCH_EVERY = timedelta(minutes=1)
KNOWN_CAPACITY = 1024  # the members active within a minute, per worker
_EXT = "guestbook.accounts.login_sessions"
BLOCKED = N_("A moderator has blocked this account: it cannot log in or write.")
# Built once: a member's request runs it whenever their kept login is out of date, and
# building a statement (and its cache key) costs more than SQLite takes to answer it.
# It also reads the versions, which every list page asks for next: one trip, not two.
BY_TOKEN = select(
    LoginSession,
    *(select(column).where(ContentVersion.id == 1).scalar_subquery() for column in VERSIONS),
    NEWEST_EVENT,
).where(LoginSession.token_hash == bindparam("token_hash"))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(user: User, remember: bool) -> None:
    """Log `user` in: a new row, a new cookie, and a fresh Flask-style session. A login
    already in this browser ends: its cookie is about to be overwritten, and a copy
    of it must not live on."""
    if user.blocked_at is not None:
        raise Forbidden(gettext(BLOCKED))
    earlier: LoginSession | None = g.get("login_session")
    if earlier is not None:
        await g.db.execute(delete(LoginSession).where(LoginSession.id == earlier.id))
    token = secrets.token_urlsafe(32)
    g.db.add(
        LoginSession(
            token_hash=_hash(token),
            user_id=user.id,
            remember=remember,
            user_agent=printable(request.headers.get("User-Agent", ""))[:USER_AGENT_MAX],
            # Only a misconfigured GUESTBOOK_PROXY_HOPS lets a client choose this; still,
            # it must fit its column.
            ip=printable(request.remote_addr or "")[:IP_MAX],
        )
    )
    await g.db.commit()
    # No session fixation: whatever the signed session held before login is dropped,
    # and the CSRF token changes with it, bound to the new login cookie.
    session.clear()
    login_user(AuthUser(token), remember=remember)
    csrf_token()
    g.user, g.login_session = user, None


@dataclass(frozen=True)
class _Known:
    """A login and its member as they were at a logins version. Shared by the
    requests that find it, so never changed: views write through statements."""

    version: int
    user: User
    login: LoginSession


def _known() -> LRU:
    app = current_app._get_current_object()
    return app.extensions.get(_EXT) or app.extensions.setdefault(_EXT, LRU(KNOWN_CAPACITY))


def _alive(login: LoginSession, now: datetime) -> bool:
    settings = config.current()
    return (
        now - login.created_at <= settings.session_absolute
        and now - login.last_seen_at <= settings.session_idle
    )


async def resolve() -> tuple[User, LoginSession] | None:
    """The user behind this request's login cookie; None if the cookie is missing,
    forged, or its row was deleted or timed out (the stale cookie is then cleared)."""
    token = login_auth_id()
    if token is None:
        return None
    token_hash, now = _hash(token), utcnow()
    known = _known().get_recent(token_hash)
    if (
        known is not None
        and now - known.login.last_seen_at <= TOUCH_EVERY
        and _alive(known.login, now)
        and (await versions.current() or (None, None))[1] == known.version
    ):
        return known.user, known.login
    found = (await g.db.execute(BY_TOKEN, {"token_hash": token_hash})).one_or_none()
    row = None
    if found is not None:
        row, *numbers = found
        g.versions = None if numbers[0] is None else tuple(numbers)
    if row is not None and (
        # Blocking deletes every row of the member; this catches a login that raced it.
        row.user.blocked_at is not None or not _alive(row, now)
    ):
        await g.db.delete(row)
        row = None
    elif row is not None and now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now  # a touch forward: the version stays
    # Saves the delete or the touch, and ends the read: this hook must not keep the
    # request's database connection (SQLite has just one) for the rest of the request.
    await g.db.commit()
    if row is None:
        logout_user()
        return None
    # Shared from now on: a rollback of this request's session must not expire them.
    g.db.expunge(row)
    g.db.expunge(row.user)
    if g.versions is not None:
        _known().put(token_hash, _Known(g.versions[1], row.user, row))
    return row.user, row


async def end_current() -> None:
    """Log out: delete this login's row, so a copy of the cookie is dead too."""
    login: LoginSession | None = g.get("login_session")
    if login is not None:
        await g.db.execute(delete(LoginSession).where(LoginSession.id == login.id))
        await g.db.commit()
    logout_user()
    session.clear()
    g.user = g.login_session = None


async def revoke(user: User, login_id: int) -> bool:
    result = await g.db.execute(
        delete(LoginSession).where(LoginSession.id == login_id, LoginSession.user_id == user.id)
    )
    await g.db.commit()
    return result.rowcount > 0


async def revoke_all(user: User, keep: LoginSession | None = None) -> int:
    """End every login of `user`, but `keep` (the one making the request) if given."""
    stmt = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep is not None:
        stmt = stmt.where(LoginSession.id != keep.id)
    result = await g.db.execute(stmt)
    await g.db.commit()
    return result.rowcount


async def of_user(user: User) -> list[LoginSession]:
    result = await g.db.execute(
        select(LoginSession)
        .where(LoginSession.user_id == user.id)
        .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
    )
    return list(result.scalars())
