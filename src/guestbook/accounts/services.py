"""What the site does for accounts, for the pages and the command line alike: find a
member (by canonical username or email), sign one up, log in with the login limits
taken first, reset and change a password, save a language, switch reply mail on and
off (on the account page, or by a mail's one-click link). Plain values in and out;
nothing here reads the request.

Every lookup compares the canonical keys (`models.canonical`, `models.email_key`),
so a name or address finds the same account on SQLite and PostgreSQL alike. A new
name must not look like a member's either (`names.skeleton`), nor be, or look like, the
name of an account deleted recently (`quarantine`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer, URLSafeTimedSerializer
from quart import current_app, g, url_for
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from guestbook import config, db
from guestbook.accounts import api_tokens, login_sessions, names, passwords, quarantine
from guestbook.forms import Errors, FieldError, printable
from guestbook.i18n import gettext
from guestbook.limits import ratelimit
from guestbook.mail import outbox
from guestbook.metrics import FAILED_LOGINS
from guestbook.models import EMAIL_MAX, LoginSession, User, canonical, email_key

log = logging.getLogger("guestbook.accounts")


class Taken(Exception):
    """The name or the address belongs to an account already; `errors` says which."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(*errors.values())
        self.errors = errors


def username_key(name: str) -> str | None:
    """The key to look `name` up by; None for a name no account can have (it is not
    looked up: PostgreSQL cannot even compare a NUL character)."""
    return canonical(name.strip()) if names.findable(name) else None


def login_key(ident: str) -> str:
    """The canonical form of what a login form was given, known account or not."""
    return email_key(ident.strip()) if "@" in ident else canonical(ident.strip())


async def _find(
    *, username: str | None = None, email: str | None = None, alike: bool = False
) -> list[User]:
    """The members `username` or `email` name; with `alike`, also any whose name looks
    like `username`."""
    conditions = []
    if username is not None and (key := username_key(username)):
        conditions.append(User.username_key == key)
        if alike:
            conditions.append(User.username_skeleton == names.skeleton(username))
    if email is not None and printable(email) == email and len(email) <= EMAIL_MAX:
        conditions.append(User.email_key == email_key(email.strip()))
    if not conditions:
        return []
    return list((await g.db.execute(select(User).where(or_(*conditions)))).scalars())


class NoSuchMember(NotFound):
    """A member name that names no one (a profile, a feed, a moderator's form)."""

    def __init__(self, username: str) -> None:
        super().__init__(gettext("There is no member called %(name)s.", name=repr(username)))


async def by_username(name: str) -> User | None:
    found = await _find(username=name)
    return found[0] if found else None


async def named(username: str) -> User:
    """The member a profile, a feed or a moderator's form names; 404 if there is none."""
    user = await by_username(username)
    if user is None:
        raise NoSuchMember(username)
    return user


async def by_email(email: str) -> User | None:
    found = await _find(email=email)
    return found[0] if found else None


async def authenticate(ident: str, password: str) -> User | None:
    """The account `ident` names if `password` is its password, else None. An unknown
    name costs one hash too (no telling names apart by time), no connection is held
    while hashing, and a hash made with older costs is redone."""
    user = await (by_email(ident) if "@" in ident else by_username(ident))
    await db.release()
    if user is None:
        await passwords.dummy_verify(password)
        return None
    if not await passwords.verify_password(user.password_hash, password):
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        await g.db.commit()
    return user


async def change(user: User, **columns: object) -> None:
    """Change the account's columns (committed by the caller). With a statement: the
    `g.user` a request sees is shared with other requests (`login_sessions`), never changed in
    place; the version bump this write makes tells every worker to read it again."""
    await g.db.execute(update(User).where(User.id == user.id).values(**columns))


async def _taken(username: str, email: str) -> Errors:
    """What stops `username` and `email` from being a new account's, by field."""
    errors = Errors()
    key, look = canonical(username), names.skeleton(username)
    for taken in await _find(username=username, email=email, alike=True):
        if taken.username_key == key:
            errors["username"] = gettext("That username is taken.")
        elif taken.username_skeleton == look:
            errors.setdefault(
                "username",
                gettext("That username looks too much like %(name)s's.", name=taken.username),
            )
        if taken.email_key == email_key(email):
            errors["email"] = gettext("An account with that email already exists.")
    if "username" not in errors and (waiting := await quarantine.held(username)):
        errors["username"] = waiting.message()  # a deleted account's, for a while
    return errors


async def register(username: str, email: str, password: str, locale: str | None = None) -> User:
    """Add a member from checked fields, with their welcome mail (in `locale`, their
    language; None: the default); raises `Taken`. Runs in a request context (the CLI
    makes one), on `g.db`."""
    if errors := await _taken(username, email):
        raise Taken(errors)
    await db.release()  # the hash takes a while
    password_hash = await passwords.hash_password(password)
    user = User(username=username, email=email, password_hash=password_hash, locale=locale)
    g.db.add(user)
    try:
        await g.db.flush()  # assigns user.id for the welcome mail's row
        await outbox.queue_welcome(g.db, user)
        await g.db.commit()
    except IntegrityError:
        # Someone took the name, one like it or the address between our check and the
        # insert (the unique indexes are the last word): say which, once it is committed.
        await g.db.rollback()
        errors = await _taken(username, email) or Errors(
            username=gettext("That username or email was just taken. Try another.")
        )
        await db.release()
        raise Taken(errors) from None
    return user


async def sign_up(
    username: str, email: str, password: str, locale: str | None, address: str
) -> User:
    """`register`, once the address has a signup slot left (429 otherwise)."""
    await ratelimit.hit(ratelimit.limits()["signup_ip"], address)
    return await register(username, email, password, locale=locale)


async def log_in(ident: str, password: str, address: str) -> User | None:
    """The member `ident` names if `password` is theirs. The attempt's slots are taken
    before the password is checked, and a login with the right password gives them back."""
    slots = await _take_login_slots(ident, address)
    user = await authenticate(ident, password)
    if user is None:
        FAILED_LOGINS.inc()
        return None
    for limit, subject in slots:
        await ratelimit.give_back(limit, subject)
    return user


async def _take_login_slots(ident: str, address: str) -> list[tuple[ratelimit.Limit, str]]:
    """429 once the address, or the address on this name, has used its own up. Every
    address together on one name only slows past the ceiling, so no one can lock the
    owner out from elsewhere."""
    rules = ratelimit.limits()
    name = hashlib.sha256(login_key(ident).encode()).hexdigest()[:32]
    slots = [(rules["login_ip"], address), (rules["login_name_ip"], f"{name}:{address}")]
    for limit, subject in slots:
        await ratelimit.hit(limit, subject)
    slots.append((rules["login_name"], name))
    if await ratelimit.take(rules["login_name"], name) is not None:
        log.warning("login name %s past its ceiling: attempts slowed", name[:8])
        await asyncio.sleep(config.current().login_slowdown_seconds)
    return slots


async def check_password(user: User, password: str, field: str = "current_password") -> None:
    """Raise `FieldError` (for `field`) unless `password` is the member's. Tried like a
    login, slot taken first, so a stolen session cookie cannot be used to guess it, even
    in a burst."""
    slot = ratelimit.limits()["password_account"], f"id:{user.id}"
    await ratelimit.hit(*slot)
    if not await passwords.verify_password(user.password_hash, password):
        raise FieldError(field, gettext("That is not your current password."))
    await ratelimit.give_back(*slot)


async def change_password(user: User, password: str, keep: LoginSession) -> None:
    """A new password, every other login ended and every API token revoked: whoever
    knew the old one is out, and so is any token they made with it."""
    await change(user, password_hash=await passwords.hash_password(password))
    await api_tokens.delete_all(user)
    await login_sessions.revoke_all(user, keep=keep)


async def save_language(user: User, language: str) -> None:
    """The member's language, written only when it changes, and then within the
    member's limit (429): each write makes every worker read their login again."""
    if user.locale != language:
        await ratelimit.hit(ratelimit.limits()["language_account"], f"id:{user.id}")
        await change(user, locale=language)
        await g.db.commit()


# Password reset by mail. The link's token is signed with the app's secret and holds
# the user id and a fingerprint of the current password hash: it expires on its own,
# and dies the moment the password changes, so it works once.


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="guestbook password reset")


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def reset_token(user: User) -> str:
    return _reset_serializer().dumps([user.id, _password_fingerprint(user)])


async def send_password_reset(email: str, address: str) -> None:
    """Mail a reset link if `email` has an account. Both paths run the same query and
    commit, so neither time nor answer tells who has an account."""
    await ratelimit.hit(ratelimit.limits()["forgot_ip"], address)
    user = await by_email(email)
    if user is not None:
        path = url_for("auth.reset", token=reset_token(user))
        await outbox.queue_password_reset(g.db, user, path)
    await g.db.commit()


async def user_from_reset_token(token: str) -> User | None:
    """The user a reset link was made for; None if forged, expired or already used."""
    try:
        user_id, fingerprint = _reset_serializer().loads(
            token, max_age=config.current().reset_token_seconds
        )
    except (BadData, TypeError, ValueError):
        return None
    user = await g.db.get(User, user_id)
    if user is None or not hmac.compare_digest(_password_fingerprint(user), fingerprint):
        return None
    return user


async def reset_password(user: User, password: str) -> bool:
    """Set the new password, end every login and revoke every API token; False if the
    link was used meanwhile."""
    await db.release()  # no connection held while the hash runs
    new_hash = await passwords.hash_password(password)
    # Only if the password is still the one the link was made for: of two submissions
    # of one link (or a reset racing a password change), one wins.
    changed = await g.db.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=new_hash)
    )
    if changed.rowcount != 1:
        await g.db.rollback()
        return False
    await api_tokens.delete_all(user)
    await login_sessions.revoke_all(user)  # commits the new password with it
    return True


# Reply mail: the account page's switch, and the one-click link in every such mail
# (RFC 8058), signed with the app's secret and naming one member. It never expires: a
# mail is read when it is read.


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="guestbook reply mail unsubscribe")


def unsubscribe_token(user: User) -> str:
    # The account's creation time beside its id: SQLite gives a deleted account's id to
    # the next signup, whose reply mail an old link must not switch off.
    return _unsubscribe_serializer().dumps([user.id, _microseconds(user.created_at)])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(when: datetime) -> int:
    return (when - EPOCH) // timedelta(microseconds=1)


async def unsubscriber(token: str) -> User | None:
    """The member an unsubscribe link was made for; None if forged, or the account is
    gone (even if a new one has its id)."""
    try:
        user_id, created = _unsubscribe_serializer().loads(token)
    except (BadData, TypeError, ValueError):  # forged, or not the pair signed above
        return None
    user = await g.db.get(User, user_id) if isinstance(user_id, int) else None
    return user if user is not None and _microseconds(user.created_at) == created else None


async def wants_reply_mail(user: User) -> bool:
    """Read from the table: the `g.user` a request sees may be a worker's kept copy."""
    return bool(await g.db.scalar(select(User.reply_mail).where(User.id == user.id)))


async def set_reply_mail(user: User, on: bool) -> None:
    await change(user, reply_mail=on)
    await g.db.commit()
