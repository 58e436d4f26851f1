"""Members: the one way to find an account (by canonical username or email), to
register one (the signup form and `guestbook create-user`), and to check a password.

Every lookup compares the canonical keys (`models.canonical`, `models.email_key`),
so a name or address finds the same account on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from quart import g
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from . import db, mail, passwords
from .forms import Errors, printable
from .i18n import gettext
from .models import EMAIL_MAX, USERNAME_RE, User, canonical, email_key


class Taken(Exception):
    """The name or the address belongs to an account already; `errors` says which."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(*errors.values())
        self.errors = errors


def username_key(name: str) -> str | None:
    """The key to look `name` up by; None for a name no account can have (it is not
    looked up: PostgreSQL cannot even compare a NUL character)."""
    key = canonical(name.strip())
    return key if USERNAME_RE.fullmatch(key) else None


def login_key(ident: str) -> str:
    """The canonical form of what a login form was given, known account or not."""
    return email_key(ident.strip()) if "@" in ident else canonical(ident.strip())


async def _find(*, username: str | None = None, email: str | None = None) -> list[User]:
    conditions = []
    if username is not None and (key := username_key(username)):
        conditions.append(User.username_key == key)
    if email is not None and printable(email) == email and len(email) <= EMAIL_MAX:
        conditions.append(User.email_key == email_key(email.strip()))
    if not conditions:
        return []
    return list((await g.db.execute(select(User).where(or_(*conditions)))).scalars())


def not_found(username: str) -> NotFound:
    """The 404 for a member name that names no one (a profile, a feed, a moderator's form)."""
    return NotFound(gettext("There is no member called %(name)s.", name=repr(username)))


async def by_username(name: str) -> User | None:
    found = await _find(username=name)
    return found[0] if found else None


async def named(username: str) -> User:
    """The member a profile, a feed or a moderator's form names; 404 if there is none."""
    user = await by_username(username)
    if user is None:
        raise not_found(username)
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
    `g.user` a request sees is shared with other requests (`logins`), never changed in
    place; the version bump this write makes tells every worker to read it again."""
    await g.db.execute(update(User).where(User.id == user.id).values(**columns))


async def register(username: str, email: str, password: str, locale: str | None = None) -> User:
    """Add a member from checked fields, with their welcome mail (in `locale`, their
    language; None: the default); raises `Taken`. Runs in a request context (the CLI
    makes one), on `g.db`."""
    errors = Errors()
    for taken in await _find(username=username, email=email):
        if taken.username_key == canonical(username):
            errors["username"] = gettext("That username is taken.")
        if taken.email_key == email_key(email):
            errors["email"] = gettext("An account with that email already exists.")
    if errors:
        raise Taken(errors)
    await db.release()  # the hash takes a while
    password_hash = await passwords.hash_password(password)
    user = User(username=username, email=email, password_hash=password_hash, locale=locale)
    g.db.add(user)
    try:
        await g.db.flush()  # assigns user.id for the welcome mail's row
        await mail.queue_welcome(g.db, user)
        await g.db.commit()
    except IntegrityError:
        # Someone took the name or address between our check and the insert.
        await g.db.rollback()
        raise Taken(
            Errors(username=gettext("That username or email was just taken. Try another."))
        ) from None
    return user
