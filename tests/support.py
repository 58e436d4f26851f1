"""What more than one test module uses, defined once: `from support import ...`.

tests/ is on sys.path under pytest (`pythonpath` in pyproject.toml), so every folder
imports this module by its name. Fixtures are not here but in conftest.py; the helpers
that start real server processes are in servers.py.

- paths and the environment: ROOT, IN_CI, ON_POSTGRES, PG_ADMIN_URL
- members' data: PASSWORD, NEW_PASSWORD, GOOD, FAST_HASHING, PRODUCTION, SCRIPT
- databases: pg_url, own_database, reset_schema, and rows read back (count_rows,
  login_rows, message_id, audit_log, all_rows with assert_rows_valid)
- the app in process: serving, CSRFClient, AuthActions, Seed, from_ip, member, write,
  token_for, Scene, Statements
- pages: page_text, visible_text, csrf_from, bodies, seen_by, signed_in_as,
  field_error, cookie
- the URL map: ROUTES, GET_RULES, API_ROUTES, POST_RULES, SAME_SITE_RULES, SIGNED_LINK_RULES,
  TOKEN_RULES,
  FIELD_NAMES, QUERY_NAMES, fill
- /live through the test client: ORIGIN, next_event, opened
- real servers over HTTP (see servers.py for the processes): production_env,
  Visitor, new_ip, new_name, post_form, signup, delete_account, assert_name_held
- mail: SMTPTestServer, MAIL_SITE, smtp_settings
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import html
import json
import os
import re
import secrets
import socket
import threading
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from email.message import EmailMessage
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from quart import Quart
from quart.testing import QuartClient
from sqlalchemy import RowMapping, event, func, select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from guestbook import create_app, db
from guestbook.accounts.services import reset_token, unsubscribe_token
from guestbook.api import routes as api_routes
from guestbook.config import Settings
from guestbook.models import (
    BODY_MAX,
    MODERATOR,
    ApiToken,
    AuditEntry,
    Base,
    LiveEvent,
    LoginSession,
    Message,
    User,
)

# --- paths and the environment ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]  # the checkout
# The newest migration's revision: the files are numbered, and each names its number.
MIGRATION_HEAD = max(path.name[:4] for path in (ROOT / "alembic" / "versions").glob("0*.py"))
PG_ADMIN_URL = os.environ.get(
    "GUESTBOOK_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
ON_POSTGRES = os.environ.get("GUESTBOOK_TEST_DATABASE", "sqlite") == "postgres"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- members' data ---------------------------------------------------------------------

# Cheap hashing in tests: the cost is a setting, the code path is the same.
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
PASSWORD = "correct horse"  # every test member's password
NEW_PASSWORD = "battery staple"  # what a test member changes or resets it to
# On top of `settings_overrides`: production, served on a loopback host of its own.
PRODUCTION = {
    "env": "production",
    "secret_key": "k" * 32,
    "allow_sqlite": True,
    "base_url": "https://localhost",  # production answers its own host only
}
GOOD = {
    "username": "alice",
    "email": "alice@example.com",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}
SCRIPT = "<script>alert(1)</script>"


# --- databases -------------------------------------------------------------------------


def http_scope(
    path: str, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    """An HTTP request's ASGI scope as a server makes it, for calling an app directly
    (`await app(scope, receive, send)`) where a test plays the server."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers or [(b"host", b"localhost")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "extensions": {},
    }


async def _pg_admin(statement: str) -> None:
    """Run one statement on the server's admin database (CREATE/DROP DATABASE)."""
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _create_pg_database(name: str) -> None:
    await _pg_admin(f'CREATE DATABASE "{name}"')


async def _drop_pg_database(name: str) -> None:
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@contextmanager
def own_database(tmp_path: Path, prefix: str) -> Iterator[str]:
    """A database of the pass's kind that one test has to itself: a SQLite file, or a
    PostgreSQL database dropped afterwards (for tests that migrate or serve it)."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / f'{prefix}.sqlite3'}"
        return
    name = f"guestbook_{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_pg_database(name))
    try:
        yield pg_url(name)
    finally:
        asyncio.run(_drop_pg_database(name))


async def reset_schema(app: Quart) -> None:
    async with db.engine(app).begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)


async def count_rows(app: Quart, model: type) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(func.count()).select_from(model))


async def login_rows(app: Quart) -> list[LoginSession]:
    async with db.sessionmaker(app)() as session:
        return list((await session.scalars(select(LoginSession).order_by(LoginSession.id))).all())


async def message_id(app: Quart, body: str) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(Message.id).where(Message.body == body))


async def audit_log(app: Quart) -> list[AuditEntry]:
    async with db.sessionmaker(app)() as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


# The model's rules, written out again here rather than borrowed from forms.py.

_STORED_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _name_shaped(name: str) -> bool:
    """2–30 letters, marks, digits, `_`, `-` and `.` of any script, in NFC."""
    return (
        unicodedata.is_normalized("NFC", name)
        and 2 <= len(name) <= 30
        and all(
            unicodedata.category(char)[0] in "LM"
            or unicodedata.category(char) == "Nd"
            or char in "_-."
            for char in name
        )
    )


Rows = dict[str, list[RowMapping]]


async def all_rows(app: Quart) -> Rows:
    async with db.engine(app).connect() as conn:
        return {
            table.name: list((await conn.execute(select(table))).mappings())
            for table in Base.metadata.sorted_tables
        }


def assert_rows_valid(rows: Rows) -> None:
    """Every row of every table: strings fit their column and hold no control
    characters, every foreign key finds its row; then each table's own rules."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            length = getattr(column.type, "length", None)
            for row in rows[table.name]:
                value = row[column.name]
                if isinstance(value, str):
                    where = f"{table.name}.{column.name} of {dict(row)!r:.300}"
                    assert not _STORED_CONTROL.search(value), f"control character in {where}"
                    assert length is None or len(value) <= length, f"too long: {where}"
            for fk in column.foreign_keys:
                targets = {row[fk.column.name] for row in rows[fk.column.table.name]}
                orphans = {row[column.name] for row in rows[table.name]} - targets - {None}
                assert not orphans, f"{table.name}.{column.name} points nowhere: {orphans}"

    users = rows[User.__tablename__]
    for user in users:
        assert _name_shaped(user["username"]), user
        local, _, domain = user["email"].rpartition("@")
        assert local and "." in domain and not re.search(r"[\s<>]", user["email"]), user
        assert user["password_hash"].startswith("$argon2id$"), user
    assert len({u["username"].lower() for u in users}) == len(users)
    assert len({u["email"].lower() for u in users}) == len(users)

    for message in rows[Message.__tablename__]:
        body = message["body"]
        assert 0 < len(body) <= BODY_MAX and body == body.strip() and "\r" not in body, message

    for login in rows[LoginSession.__tablename__]:
        assert re.fullmatch(r"[0-9a-f]{64}", login["token_hash"]), login

    for token in rows[ApiToken.__tablename__]:
        assert re.fullmatch(r"[0-9a-f]{64}", token["token_hash"]), token
        assert token["scope"] in ("read", "write") and token["name"].strip(), token


# --- the app in process ----------------------------------------------------------------


class CSRFClient(QuartClient):
    """A test client that puts the session's CSRF token into every form it posts,
    as a browser submitting our forms would. `csrf=False` sends none."""

    async def csrf_token(self) -> str:
        async with self.session_transaction() as session:
            return session.setdefault("csrf_token", uuid.uuid4().hex)

    async def post(self, *args: Any, csrf: bool = True, **kwargs: Any):
        if csrf and "form" in kwargs and "csrf_token" not in kwargs["form"]:
            kwargs["form"] = {**kwargs["form"], "csrf_token": await self.csrf_token()}
        return await super().post(*args, **kwargs)


@asynccontextmanager
async def serving(config: Settings | dict[str, Any]) -> AsyncIterator[Quart]:
    """`create_app(config)` with its startup and shutdown hooks running, as under a real
    server, and `CSRFClient` as its test client."""
    app = create_app(config)
    app.test_client_class = CSRFClient
    async with app.test_app():
        yield app


class AuthActions:
    """flaskr's `auth` fixture: sign up, log in and log out through the real forms."""

    def __init__(self, client: CSRFClient) -> None:
        self.client = client

    async def signup(
        self, username: str = "alice", password: str = PASSWORD, email: str | None = None
    ):
        return await self.client.post(
            "/auth/signup",
            form={
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
                "password_confirm": password,
            },
        )

    async def login(self, username: str = "alice", password: str = PASSWORD, **extra: str):
        return await self.client.post(
            "/auth/login", form={"username": username, "password": password, **extra}
        )

    async def logout(self):
        return await self.client.post("/auth/logout", form={})


class Seed:
    """Members and messages written straight to the database, for tests about what the
    pages show rather than about signing up (flaskr's `data.sql`). Each member's
    password is `PASSWORD`, so `auth.login(name)` logs them in."""

    _hash = PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD)

    def __init__(self, app: Quart) -> None:
        self.app = app

    async def member(self, username: str = "alice", *messages: str) -> User:
        """A member who wrote `messages`, oldest first."""
        async with db.sessionmaker(self.app)() as session:
            user = User(
                username=username, email=f"{username}@example.com", password_hash=self._hash
            )
            session.add(user)
            await session.flush()
            for body in messages:
                session.add(Message(body=body, writer_id=user.id))
                await session.flush()  # one at a time: ids keep the order written
            await session.commit()
        return user


def from_ip(ip: str) -> dict[str, Any]:
    """Test-client keyword arguments for a request from `ip`."""
    return {"scope_base": {"client": (ip, 40000)}}


async def member(app: Quart, name: str, *, moderator: bool = False) -> CSRFClient:
    """A browser of its own, signed up (and so logged in) as `name`."""
    client = app.test_client()
    assert (await AuthActions(client).signup(name, PASSWORD)).status_code == 302
    if moderator:
        async with db.sessionmaker(app)() as session:
            await session.execute(update(User).where(User.username == name).values(role=MODERATOR))
            await session.commit()
    return client


async def token_for(client: CSRFClient, scope: str = "write", name: str = "script") -> str:
    """An API token made on the account page, read from the page that shows it once."""
    response = await client.post("/account/tokens", form={"name": name, "scope": scope})
    assert response.status_code == 200
    found = re.search(r'<code id="new-token">([^<]+)</code>', await page_text(response))
    assert found, "the page shows no new token"
    return found[1]


async def write(client: CSRFClient, body: str) -> int:
    assert (await client.post("/messages", form={"body": body})).status_code == 302
    return await message_id(client.app, body)  # type: ignore[attr-defined]


class Statements:
    """The SQL statements the app sends, by their first words: SQLAlchemy's, and the
    versions question asked of the driver itself (`db.driver_row`)."""

    def __init__(self, app: Quart, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[str] = []
        engine = db.engine(app).sync_engine
        event.listen(engine, "before_cursor_execute", self._record)
        driver_row = db.driver_row

        async def recorded(conn: Any, sql: str) -> Any:
            self._record(None, None, sql)
            return await driver_row(conn, sql)

        monkeypatch.setattr(db, "driver_row", recorded)

    def _record(self, _conn, _cursor, statement: str, *_args: object) -> None:  # noqa: ANN001
        self.seen.append(" ".join(statement.split()[:2]))


# --- pages -----------------------------------------------------------------------------


async def page_text(response) -> str:
    return await response.get_data(as_text=True)


async def visible_text(response) -> str:
    """What a person reads on the page: no tags, entities decoded, spaces collapsed."""
    page = re.sub(r"(?s)<(script|style)\b.*?</\1>|<[^>]+>", " ", await page_text(response))
    return " ".join(html.unescape(page).split())


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def bodies(page: str) -> list[str]:
    """What each message of the page says: its rendered body's text, a line break as a
    newline (messages/formatting.py allows no `<div>`: the first `</div>` ends a body)."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", body.replace("<br>", "\n")))
        for body in re.findall(r'<div class="body">(.*?)</div>', page, re.S)
    ]


async def seen_by(client, path: str = "/") -> str:
    response = await client.get(path)
    assert response.status_code == 200
    return await page_text(response)


async def signed_in_as(client: CSRFClient) -> str | None:
    """The name the menu bar shows, or None for an anonymous visitor."""
    match = re.search(
        r'<a class="me" href="/users/[^"]+">([^<]+)</a>', await page_text(await client.get("/"))
    )
    return match.group(1) if match else None


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else None


def cookie(client: CSRFClient, name: str) -> str | None:
    return next((c.value for c in client.cookie_jar if c.name == name), None)


# --- the URL map -----------------------------------------------------------------------

# Read the routes from an app that is built but never served (nothing touches a disk).
_PROBE = create_app(
    {"env": "testing", "database_url": "sqlite+aiosqlite://", "mail_backend": "null"}
)
api_routes.load(_PROBE)  # the API's views, which its first request would load
ROUTES = sorted(
    (rule.rule, method)
    for rule in _PROBE.url_map.iter_rules()
    for method in rule.methods - {"HEAD", "OPTIONS"}
)
GET_RULES = [rule for rule, method in ROUTES if method == "GET"]
# The JSON API's routes (`web.csrf.bearer_only`): they read no cookie and no form, only
# a bearer token and JSON, so the cookie and form tests below leave them out; their
# own auth and bodies are tested in tests/api/ (and fuzzed from their OpenAPI document).
API_ROUTES = [
    (rule.rule, method)
    for rule in _PROBE.url_map.iter_rules()
    if getattr(_PROBE.view_functions[rule.endpoint], "bearer_only", False)
    for method in rule.methods - {"HEAD", "OPTIONS"}
]
POST_RULES = [
    rule for rule, method in ROUTES if method == "POST" and (rule, method) not in API_ROUTES
]
# POST routes that take no CSRF token and refuse other sites by their headers instead
# (`security.same_site_only`): the language switch and the popup's "Don't show again".
SAME_SITE_RULES = [
    rule.rule
    for rule in _PROBE.url_map.iter_rules()
    if getattr(_PROBE.view_functions[rule.endpoint], "same_site_only", False)
]
# POST routes whose URL carries a signed token that is their whole authority
# (`web.csrf.signed_link`): a reply mail's one-click unsubscribe link.
SIGNED_LINK_RULES = [
    rule.rule
    for rule in _PROBE.url_map.iter_rules()
    if getattr(_PROBE.view_functions[rule.endpoint], "signed_link", False)
]
TOKEN_RULES = [rule for rule in POST_RULES if rule not in SAME_SITE_RULES + SIGNED_LINK_RULES]
# Every name a form of the app posts or a view reads; `test_every_field_is_fuzzed`
# (test_fuzz.py) fails when a page grows a field that is not here.
FIELD_NAMES = (
    "csrf_token",
    "username",
    "email",
    "password",
    "password_confirm",
    "current_password",
    "remember",
    "body",
    "next",
    "lang",
    "writer_id",  # never read: the writer is whoever is logged in
    "website",  # the spam honeypot
    "rendered",  # the signup form's signed render time
    "reason",
    "hide_messages",
    "restore_messages",
    "reply_mail",
    "name",  # an API token's
    "scope",
)
QUERY_NAMES = ("before", "next", "profile", "thread", "to", "cursor", "seq", "v")

URL_PART = re.compile(r"<(?:(\w+(?:\([^)]*\))?):)?(\w+)>")  # <converter(args):name>


def fill(rule: str, values: Mapping[str, object]) -> str:
    """The rule with each <converter:name> replaced by values[name]."""
    return URL_PART.sub(lambda m: str(values[m[2]]), rule)


class Scene:
    """Alice, a moderator, logged in on a laptop and a phone, with a message; Bob, a
    member; and a well-formed request from the laptop for every route."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.laptop: CSRFClient = app.test_client()
        self.phone: CSRFClient = app.test_client()
        self.signups = 0

    async def setup(self) -> Scene:
        assert (await AuthActions(self.laptop).signup("alice", PASSWORD)).status_code == 302
        assert (await AuthActions(self.phone).login("alice", PASSWORD)).status_code == 302
        assert (await self.laptop.post("/messages", form={"body": "hello"})).status_code == 302
        async with db.sessionmaker(self.app)() as session:
            self.laptop_login, self.phone_login = await session.scalars(
                select(LoginSession.id).order_by(LoginSession.id)
            )
            await session.execute(update(User).values(role=MODERATOR))
            session.add(User(username="bob", email="bob@example.com", password_hash="x"))
            await session.commit()
        return self

    async def values(self, rule: str = "") -> dict[str, object]:
        """URL values: a fresh message of Alice's (an earlier request may have deleted
        one), the phone's login, a reset link for her current password. For the routes
        that act on someone else (reports, moderation), Bob and a fresh message of his."""
        whose = "bob" if rule in ON_SOMEONE_ELSE else "alice"
        async with db.sessionmaker(self.app)() as session:
            alice = await session.scalar(select(User).where(User.username == "alice"))
            writer = await session.scalar(select(User).where(User.username == whose))
            message = Message(body="target", writer_id=writer.id)
            session.add(message)
            await session.commit()
            api_token = ApiToken(
                token_hash=secrets.token_hex(32), user_id=alice.id, name="laptop", scope="read"
            )
            session.add(api_token)
            await session.commit()
        async with self.app.app_context():
            token = unsubscribe_token(alice) if "unsubscribe" in rule else reset_token(alice)
        return {
            "message_id": message.id,
            "login_id": self.phone_login,
            "token_id": api_token.id,
            "token": token,
            "username": whose,
            "filename": "style.css",
        }

    async def request_for(self, rule: str) -> tuple[str, dict[str, str]]:
        """A path and form the route accepts from the laptop now; the laptop is logged
        in again first, since an earlier request may have ended its login."""
        self.signups += 1
        new = f"newcomer{self.signups}"
        password = {"password": PASSWORD, "password_confirm": PASSWORD}
        forms: dict[str, dict[str, str]] = {
            "/auth/signup": {"username": new, "email": f"{new}@example.com", **password},
            "/auth/login": {"username": "alice", "password": PASSWORD},
            "/auth/logout": {},
            "/auth/forgot": {"email": "alice@example.com"},
            "/auth/reset/<token>": password,
            "/messages": {"body": f"hi {self.signups}"},  # the same twice would be refused
            "/messages/<int:message_id>/edit": {"body": "edited"},
            "/messages/<int:message_id>/replies": {"body": f"re {self.signups}"},
            "/messages/<int:message_id>/like": {},
            "/account/reply-mail": {"reply_mail": "on"},
            "/account/tokens": {"name": "laptop", "scope": "write"},
            "/account/tokens/<int:token_id>/revoke": {},
            "/unsubscribe/<token>": {},
            "/messages/<int:message_id>/delete": {},
            "/popup/skip": {},
            "/lang": {"lang": "ko"},
            "/account/sessions/<int:login_id>/revoke": {},
            "/account/sessions/revoke-others": {},
            "/account/password": {"current_password": PASSWORD, **password},
            "/messages/<int:message_id>/report": {"reason": "rude"},
            "/messages/<int:message_id>/hide": {"reason": "spam"},
            "/messages/<int:message_id>/unhide": {},
            "/messages/<int:message_id>/remove": {"reason": "spam"},
            "/users/<username>/block": {"reason": "spam", "hide_messages": "on"},
            "/users/<username>/unblock": {"restore_messages": "on"},
        }
        if rule == "/account/delete":  # it deletes whom it is sent for: a newcomer each time
            assert (await AuthActions(self.laptop).signup(new, PASSWORD)).status_code == 302
            return rule, {"password": PASSWORD}
        if rule not in forms:
            raise KeyError(f"{rule}: add a well-formed form for it to Scene.request_for")
        assert (await AuthActions(self.laptop).login("alice", PASSWORD)).status_code == 302
        return fill(rule, await self.values(rule)), forms[rule]


ON_SOMEONE_ELSE = {
    "/messages/<int:message_id>/report",
    "/messages/<int:message_id>/hide",
    "/messages/<int:message_id>/unhide",
    "/messages/<int:message_id>/remove",
    "/users/<username>/block",
    "/users/<username>/unblock",
}


# --- /live through the test client -----------------------------------------------------

ORIGIN = {"Origin": "http://localhost"}  # the test client's own host


async def next_event(socket: Any, timeout: float = 5) -> dict:
    """The next event that is not a heartbeat."""
    return await next_live_event(socket, socket.receive, timeout)


async def next_live_event(socket: Any, receive: Any, timeout: float) -> dict:
    """The next event of a /live `socket` that is not a heartbeat, read with `receive`.
    A frame holds one event, or a list of those that waited together: the rest of a
    list waits on the socket for the next call."""
    waiting = socket.__dict__.setdefault("live_events_waiting", [])
    while True:
        if not waiting:
            found = json.loads(await asyncio.wait_for(receive(), timeout))
            waiting += found if isinstance(found, list) else [found]
        event = waiting.pop(0)
        if event["type"] != "ping":
            return event


async def newest_seq(app: Quart) -> int:
    """The number of the newest live event (0: none yet): where a socket would resume."""
    async with db.sessionmaker(app)() as session:
        return (await session.scalar(select(LiveEvent.seq).order_by(LiveEvent.seq.desc()))) or 0


@contextlib.asynccontextmanager
async def opened(client: CSRFClient, after: int | None = None) -> AsyncIterator[Any]:
    """A socket that has caught up: with no `after`, its first frame (a reload) is read."""
    path = "/live" if after is None else f"/live?after={after}"
    async with client.websocket(path, headers=ORIGIN) as socket:
        if after is None:
            assert (await next_event(socket))["type"] == "reload"
        yield socket


# --- real servers over HTTP ------------------------------------------------------------

SECRET_KEY = secrets.token_hex(32)


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"needed in CI: {reason}")
    pytest.skip(reason)


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """GUESTBOOK_* settings for a production process (cheap hashing, no mail)."""
    return {
        "GUESTBOOK_ENV": "production",
        "GUESTBOOK_SECRET_KEY": SECRET_KEY,
        "GUESTBOOK_DATABASE_URL": database_url,
        "GUESTBOOK_MAIL_BACKEND": "null",
        # Direct, through nginx, and as the proxy the tests play (X-Forwarded-Host).
        "GUESTBOOK_ALLOWED_HOSTS": "127.0.0.1,guestbook.example.org",
        "GUESTBOOK_SIGNUP_LIMIT": "1000",
        "GUESTBOOK_SIGNUP_MIN_SECONDS": "0",  # the tests send the form as soon as it is shown
        **{f"GUESTBOOK_{name.upper()}": str(value) for name, value in FAST_HASHING.items()},
        **extra,
    }


class Visitor(httpx.AsyncClient):
    """One browser. With `forwarded_for` it comes through our TLS proxy from that address
    (the test plays the proxy). It keeps its cookies itself, Secure ones included: httpx's
    jar rightly keeps those off plain HTTP, but here the http:// is behind the proxy. One
    jar serves every instance, as in a browser, since cookies ignore the port."""

    def __init__(self, forwarded_for: str | None = None) -> None:
        self.jar: dict[str, str] = {}
        super().__init__(
            headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"}
            if forwarded_for
            else None,
            timeout=30,
            event_hooks={"request": [self._send_cookies], "response": [self._keep_cookies]},
        )

    async def _send_cookies(self, request: httpx.Request) -> None:
        if self.jar:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())

    async def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0":  # how Quart deletes a cookie
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value


def new_ip() -> str:
    """An address of its own, so one test's per-address counts never meet another's."""
    return f"198.18.{secrets.randbelow(256)}.{1 + secrets.randbelow(254)}"


def new_name() -> str:
    return f"live{uuid.uuid4().hex[:10]}"


async def post_form(
    client: httpx.AsyncClient, url: str, form: dict[str, str], page: str | None = None
) -> httpx.Response:
    """POST `form` with the CSRF token from the form on `page` (default: `url`); the
    token lives in the signed session cookie, so any instance's page will do."""
    shown = await client.get(page or url)
    assert shown.status_code == 200, shown.text
    return await client.post(url, data={**form, "csrf_token": csrf_from(shown.text)})


async def signup(client: httpx.AsyncClient, base: str, name: str) -> None:
    form = {
        "username": name,
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    response = await post_form(client, f"{base}/auth/signup", form)
    assert response.status_code == 302, response.text


async def delete_account(client: httpx.AsyncClient, base: str) -> None:
    """The member `client` is logged in as deletes their account, with their password."""
    form = {"password": PASSWORD}
    gone = await post_form(client, f"{base}/account/delete", form, page=f"{base}/account")
    assert gone.status_code == 302, gone.text


async def assert_name_held(base: str, name: str) -> None:
    """A newcomer cannot sign up as `name`: a deleted member's, held back."""
    async with Visitor(new_ip()) as newcomer:
        form = {"username": name, "email": f"{new_name()}@example.com", "password": PASSWORD}
        held = await post_form(
            newcomer, f"{base}/auth/signup", {**form, "password_confirm": PASSWORD}
        )
    assert held.status_code == 400 and "deleted recently" in held.text, held.text


# --- a real SMTP server for the mail tests (and the browser tests) ------------------


class SMTPTestServer:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives.

    It runs in a thread with its own event loop, so it serves sync tests, async tests
    and apps served by hypercorn in another thread or process alike. Point an app at it
    with the settings `{"mail_backend": "smtp", "smtp_host": server.host,
    "smtp_port": server.port}`.

    - `messages`: the delivered mails as `email.message.EmailMessage`, in arrival
      order; `envelopes`: the matching `(mail_from, rcpt_tos)` of each.
    - `wait(count, timeout=10)`: block until at least `count` mails have arrived and
      return them. For sync tests; it blocks the calling thread.
    - `await wait_async(count, timeout=10)`: the same for async tests, without blocking
      the event loop (an app under test in this loop sends from it).
    - `stop()` / `start()`: take the server down (connections are refused) and bring it
      back on the same port, for "SMTP is down" tests. Received mails are kept.
    """

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port: int = probe.getsockname()[1]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def start(self) -> None:
        assert self._controller is None, "already running"
        # A new controller each time: a stopped one has closed its event loop.
        self._controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=30)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(self._short(count, timeout))
            return list(self.messages)

    async def wait_async(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(self._short(count, timeout))
            await asyncio.sleep(0.02)
        return list(self.messages)

    def _short(self, count: int, timeout: float) -> str:
        return f"expected {count} mail(s) within {timeout} s, got {len(self.messages)}"


MAIL_SITE = "https://guestbook.example"  # the base URL the mail tests' links must carry


def smtp_settings(server: SMTPTestServer) -> dict[str, Any]:
    """Settings that send the app's mail to `server`, looked at every 0.1 s."""
    return {
        "mail_backend": "smtp",
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_timeout": 5,
        "mail_poll_seconds": 0.1,
        "base_url": MAIL_SITE,
    }
