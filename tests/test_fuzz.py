"""Hostile input against every route: never a 5xx, never a bad row.

Every rule of the app's URL map gets requests whose form fields and query parameters
hold random unicode, NUL and other control bytes, lone surrogates and invalid UTF-8
(percent-encoded and raw), values at and past every length limit up to 100 kB, fields
repeated or missing, and bodies of the wrong type (JSON, multipart, plain text, none).
The app must answer 2xx, 3xx or 4xx; a 4xx must leave the database as it was; and after
every request each row of every table must obey the model's rules.

The routes come from the app's URL map, and `test_every_field_is_fuzzed` fails when a
page or view grows a field or query parameter the lists here lack: nothing new goes
unfuzzed by being forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import socket
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypercorn.asyncio import serve
from hypercorn.asyncio.tcp_server import MAX_RECV
from hypercorn.config import Config as HypercornConfig
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from quart import Quart
from sqlalchemy import func, select, update

from guestbook import create_app, db
from guestbook.accounts.services import reset_token
from guestbook.models import (
    BODY_MAX,
    EMAIL_MAX,
    PASSWORD_MAX,
    USERNAME_MAX,
    USERNAME_MIN,
    ApiToken,
    LoginSession,
    Message,
    User,
)
from support import (
    FIELD_NAMES,
    GET_RULES,
    IN_CI,
    PASSWORD,
    POST_RULES,
    QUERY_NAMES,
    ROOT,
    ROUTES,
    URL_PART,
    AuthActions,
    all_rows,
    assert_rows_valid,
    fill,
)

SRC = ROOT / "src" / "guestbook"


FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=IN_CI,  # the same examples on every CI run; new ones on developers' machines
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Bytes that have broken web apps before.
NASTY: list[bytes] = [
    b"",
    b" ",
    b"\x00",
    b"a\x00b",
    b"%00",
    b"\xed\xa0\x80",  # a lone surrogate (U+D800) spelled in UTF-8's forbidden way
    b"\xff\xfe\xfd",  # never valid UTF-8
    b"\xc0\xaf",  # overlong "/"
    b"\xe2\x82",  # truncated sequence
    "\u202egnp.exe".encode(),
    "\ufeff\u200b".encode(),
    "ｆｕｚｚ💩".encode(),
    b"\r\n\t\x0b\x0c\x1b[31m\x7f",
    b"<script>alert(1)</script>",
    b'"><img src=x onerror=alert(1)>',
    b"' OR '1'='1' --",
    b"1; DROP TABLE users; --",
    b"//evil.example/",
    b"/\\evil.example",
    b"https://evil.example",
    b"javascript:alert(1)",
    b"9999999999999999999999",
    b"-1",
    b"fuzzer",
    b"other",
    b"fuzzer@example.com",
    PASSWORD.encode(),
]
# Lengths at and past every field's limit; past the 64 kB body limit comes separately.
SIZES = [USERNAME_MAX + 1, EMAIL_MAX + 1, BODY_MAX, BODY_MAX + 1, PASSWORD_MAX + 1]
HUGE = [60_000, 100_000]

_any_char = st.one_of(st.characters(), st.characters(categories=["Cs", "Cc", "Zl", "Zp"]))
hostile = st.one_of(
    st.sampled_from(NASTY),
    st.text(_any_char, max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.builds(
        lambda chunk, size: chunk * size,
        st.sampled_from([b"a", b"\x00", "é".encode(), b"<", b"\n"]),
        st.sampled_from(SIZES),
    ),
)
# Well-formed values, so that requests get past validation to the writes.
# ASCII names, so that each makes an address too; a name starts with a letter or digit.
_username = st.from_regex(
    rf"[A-Za-z0-9][A-Za-z0-9_-]{{{USERNAME_MIN - 1},{USERNAME_MAX - 1}}}", fullmatch=True
)
plausible = {
    "username": _username,
    "email": _username.map(lambda name: f"{name}@example.com"),
    "password": st.just(PASSWORD),
    "password_confirm": st.just(PASSWORD),
    "current_password": st.just(PASSWORD),
    "remember": st.just("on"),
    "body": st.text(min_size=1, max_size=80),
    "next": st.sampled_from(["/", "/users/fuzzer", "/account/sessions"]),
}


def urlencoded(pairs: list[tuple[bytes, bytes]], raw: bool = False) -> bytes:
    if raw:  # bytes as they came, '&' and '=' and invalid UTF-8 included
        return b"&".join(name + b"=" + value for name, value in pairs)
    return "&".join(
        f"{quote_from_bytes(name)}={quote_from_bytes(value)}" for name, value in pairs
    ).encode()


def multipart(pairs: list[tuple[bytes, bytes]], boundary: bytes, flavour: int = 0) -> bytes:
    out = b""
    for i, (name, value) in enumerate(pairs):
        headers = b'Content-Disposition: form-data; name="' + name.replace(b'"', b"") + b'"'
        if flavour == 1 and i % 2:
            headers += b'; filename="x.txt"'  # a file, not a field
        if flavour == 2:
            headers += b"\r\nContent-Type: text/plain; charset=iso-8859-1"
        out += b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


FORM = "application/x-www-form-urlencoded"


@st.composite
def well_formed(draw: st.DrawFn, token: str) -> tuple[bytes, dict[str, str]]:
    """What a browser sends, with at most one field spoiled: these get past the CSRF
    check and validation to the writes behind them."""
    pairs = [(b"csrf_token", token.encode())]
    for name, value in plausible.items():
        pairs.append((name.encode(), draw(value).encode("utf-8", "surrogatepass")))
    if draw(st.booleans(), label="spoil one"):
        i = draw(st.integers(1, len(pairs) - 1))
        pairs[i] = (pairs[i][0], draw(hostile))
    if draw(st.booleans(), label="multipart"):
        return multipart(pairs, b"fuzz"), {"Content-Type": "multipart/form-data; boundary=fuzz"}
    return urlencoded(pairs), {"Content-Type": FORM}


@st.composite
def chaos(draw: st.DrawFn, token: str) -> tuple[bytes, dict[str, str]]:
    """Any field missing, once or repeated, unknown fields, the CSRF token anywhere or
    nowhere, and any encoding: raw bytes, multipart with files, JSON, plain text."""
    pairs: list[tuple[bytes, bytes]] = []
    for name in FIELD_NAMES[1:]:
        for value in draw(st.lists(hostile, max_size=3)):
            pairs.append((name.encode(), value))
    pairs += draw(st.lists(st.tuples(st.binary(min_size=1, max_size=10), hostile), max_size=2))
    csrf = draw(st.sampled_from(["field", "header", "none", "wrong", "twice"]))
    if csrf == "field":
        pairs.insert(0, (b"csrf_token", token.encode()))
    elif csrf == "wrong":
        pairs.insert(0, (b"csrf_token", draw(hostile)))
    elif csrf == "twice":
        pairs[:0] = [(b"csrf_token", draw(hostile)), (b"csrf_token", token.encode())]
    headers = {"X-CSRFToken": token} if csrf == "header" else {}
    kind = draw(st.sampled_from(["form", "raw-form", "multipart", "json", "text", "none"]))
    if kind in ("form", "raw-form"):
        charset = draw(st.sampled_from(["", "; charset=utf-16", "; charset=bogus"]))
        headers["Content-Type"] = FORM + charset
        return urlencoded(pairs, raw=kind == "raw-form"), headers
    if kind == "multipart":
        boundary = draw(st.sampled_from([b"fuzzbound", b"", b"a" * 80, b'"q"']))
        headers["Content-Type"] = "multipart/form-data; boundary=" + boundary.decode()
        return multipart(pairs, boundary or b"x", draw(st.integers(0, 2))), headers
    if kind == "json":  # JSON where a form is expected
        document = {k.decode("latin-1"): v.decode("utf-8", "replace") for k, v in pairs}
        return json.dumps(document).encode(), {**headers, "Content-Type": "application/json"}
    if kind == "text":
        headers["Content-Type"] = "text/plain"
    return urlencoded(pairs, raw=True), headers


@st.composite
def bodies(draw: st.DrawFn, token: str) -> tuple[bytes, dict[str, str]]:
    body, headers = draw(st.one_of(well_formed(token), chaos(token)))
    if draw(st.integers(0, 9), label="huge") == 0:  # past the 64 kB limit
        body += b"&next=" + b"x" * draw(st.sampled_from(HUGE))
    return body, headers


header_values = st.one_of(
    st.sampled_from(["", "Mozilla/5.0", "\x01\x1b[2J\x7f", "<script>alert(1)</script>", "é" * 400]),
    st.text(st.characters(min_codepoint=1, max_codepoint=255, exclude_characters="\r\n")),
)


def percent(value: bytes) -> str:
    return quote_from_bytes(value, safe="")


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # The fuzzer signs up and logs in far more often than a person; rate limits are
    # tested elsewhere and would only turn the interesting answers into 429s here.
    # One proxy hop is trusted, so the X-Forwarded-For the fuzzer sends is stored.
    return {
        **settings_overrides,
        "proxy_hops": 1,
        "login_limit": 10**6,
        "signup_limit": 10**6,
        "forgot_limit": 10**6,
    }


class Fuzzer:
    """Two members, each with a message: `fuzzer` (the one the requests log in as)
    and `other` (whose things `fuzzer` must not be able to touch)."""

    def __init__(self, app: Quart) -> None:
        self.app = app

    async def setup(self) -> None:
        for name in ("fuzzer", "other"):
            client = self.app.test_client()
            auth = AuthActions(client)
            assert (await auth.signup(name, PASSWORD)).status_code == 302
            assert (await client.post("/messages", form={"body": f"by {name}"})).status_code == 302
        async with db.sessionmaker(self.app)() as session:
            self.hash = await session.scalar(
                select(User.password_hash).where(User.username == "fuzzer")
            )
            self.other_message = await session.scalar(
                select(Message.id).join(Message.writer).where(User.username == "other")
            )
            self.other_login = await session.scalar(
                select(LoginSession.id).join(User).where(User.username == "other")
            )

    async def client(self, logged_in: bool):
        """A fresh browser: anonymous, or logged in as `fuzzer` (whose password an
        earlier example may have changed, or whose account it may have deleted: then it
        is put back, by hand, as signup holds a deleted member's name back)."""
        client = self.app.test_client()
        if logged_in and (await AuthActions(client).login("fuzzer", PASSWORD)).status_code != 302:
            async with db.sessionmaker(self.app)() as session:
                changed = await session.execute(
                    update(User).where(User.username == "fuzzer").values(password_hash=self.hash)
                )
                if changed.rowcount == 0:
                    mail = "fuzzer@example.com"
                    session.add(User(username="fuzzer", email=mail, password_hash=self.hash))
                await session.commit()
            assert (await AuthActions(client).login("fuzzer", PASSWORD)).status_code == 302
        return client, await client.csrf_token()

    async def ids(self) -> dict[str, list[int]]:
        """Ids worth aiming at: fuzzer's own (a fresh message, its newest login),
        other's, and numbers no column can hold."""
        async with db.sessionmaker(self.app)() as session:
            fuzzer = await session.scalar(select(User).where(User.username == "fuzzer"))
            mine = Message(body="target", writer_id=fuzzer.id)
            token = ApiToken(
                token_hash=secrets.token_hex(32), user_id=fuzzer.id, name="fuzz", scope="read"
            )
            session.add_all([mine, token])
            await session.commit()
            login = await session.scalar(
                select(func.max(LoginSession.id)).where(LoginSession.user_id == fuzzer.id)
            )
        huge = [0, 2**31 - 1, 2**31, 2**63, 10**30]
        return {
            "message_id": [mine.id, self.other_message, *huge],
            "login_id": [login or 0, self.other_login, *huge],
            "token_id": [token.id, *huge],
        }

    async def values(self) -> dict[str, object]:
        """One well-formed value for each URL part: fuzzer's own things and name, a
        static file, a reset link that works."""
        ids = await self.ids()
        async with db.sessionmaker(self.app)() as session:
            fuzzer = await session.scalar(select(User).where(User.username == "fuzzer"))
        async with self.app.app_context():
            token = reset_token(fuzzer)
        return {
            "message_id": ids["message_id"][0],
            "login_id": ids["login_id"][0],
            "token_id": ids["token_id"][0],
            "username": "fuzzer",
            "filename": "style.css",
            "token": token,
        }


@pytest.fixture
async def fuzzer(app: Quart) -> Fuzzer:
    fuzzer = Fuzzer(app)
    await fuzzer.setup()
    return fuzzer


def fill_path(rule: str, draw: st.DrawFn, ids: dict[str, list[int]]) -> str:
    """The rule with each <converter:name> replaced by a drawn (percent-encoded) value."""

    def value(match: re.Match[str]) -> str:
        converter, name = match.group(1) or "", match.group(2)
        if name in ids:
            return str(draw(st.sampled_from(ids[name])))
        if converter.startswith("int"):
            return str(draw(st.integers(min_value=0, max_value=10**30)))
        text = draw(
            st.one_of(hostile, st.sampled_from([b"fuzzer", b"style.css", b"../etc/passwd"]))
        )
        return quote_from_bytes(text, safe="/" if converter == "path" else "")

    return URL_PART.sub(value, rule)


@pytest.mark.parametrize(("rule", "method"), ROUTES, ids=[f"{m} {r}" for r, m in ROUTES])
@FUZZ
@given(data=st.data())
async def test_route_survives_hostile_requests(
    app: Quart, fuzzer: Fuzzer, rule: str, method: str, data: st.DataObject
) -> None:
    client, token = await fuzzer.client(logged_in=data.draw(st.booleans(), label="logged in"))
    path = fill_path(rule, data.draw, await fuzzer.ids() if "_id>" in rule else {})
    query = data.draw(
        st.lists(
            st.tuples(st.sampled_from(QUERY_NAMES) | st.binary(max_size=5), hostile), max_size=3
        )
    )
    if query:
        path += "?" + "&".join(
            f"{percent(k if isinstance(k, bytes) else k.encode())}={percent(v)}" for k, v in query
        )
    body, headers = data.draw(bodies(token)) if method != "GET" else (b"", {})
    # Headers the app stores: anything HTTP/1.1 lets through (no NUL, CR or LF).
    for name in ("User-Agent", "X-Forwarded-For"):
        headers[name] = data.draw(header_values, label=name)

    before = await all_rows(app)
    response = await client.open(path, method=method, data=body, headers=headers)

    event(f"answered {response.status_code}")  # pytest --hypothesis-show-statistics
    assert response.status_code < 500, f"{method} {path} answered {response.status_code}"
    rows = await all_rows(app)
    if response.status_code >= 400:
        assert rows == before, f"{method} {path} refused but wrote"
    assert_rows_valid(rows)


@FUZZ
@given(cookie=st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=300))
async def test_hostile_cookies_are_ignored(app: Quart, cookie: str) -> None:
    """Forged, truncated or binary cookies: a logged-out page, never an error."""
    client = app.test_client()
    for name in ("gb_session", "gb_login", "popup_skip"):
        response = await client.get("/", headers={"Cookie": f"{name}={cookie}"})
        assert response.status_code == 200, (name, cookie)
        assert "Log in" in await response.get_data(as_text=True)


class _FieldNames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("input", "textarea", "select", "button"):
            self.names.update(value for key, value in attrs if key == "name" and value)


async def test_every_field_is_fuzzed(app: Quart, fuzzer: Fuzzer) -> None:
    """The fuzzer's lists cover every field of every page's forms, and every query
    parameter a view reads; a new one must be added to FIELD_NAMES or QUERY_NAMES."""
    client, _ = await fuzzer.client(logged_in=True)
    values = await fuzzer.values()
    parser = _FieldNames()
    for rule in GET_RULES:
        path = fill(rule, values)
        for browser in (client, app.test_client()):
            response = await browser.get(path)
            if response.mimetype == "text/html":
                parser.feed(await response.get_data(as_text=True))
    assert parser.names, "no forms found: the page parser is broken"
    assert parser.names <= set(FIELD_NAMES), parser.names - set(FIELD_NAMES)

    read_in_source = {
        name
        for source in SRC.rglob("*.py")
        for name in re.findall(r"request\.args(?:\.get\(|\[)\s*[\"'](\w+)", source.read_text())
    }
    assert read_in_source, "no request.args reads found: the source scan is broken"
    assert read_in_source <= set(QUERY_NAMES), read_in_source - set(QUERY_NAMES)


@pytest.mark.parametrize("token_in", ["field", "header"])
@pytest.mark.parametrize("rule", POST_RULES)
async def test_oversized_body_writes_nothing(
    app: Quart, fuzzer: Fuzzer, rule: str, token_in: str
) -> None:
    """Past the 64 kB limit: the 413 page, and nothing written first. With the token in
    a header, a view reads the body itself, so it must read it before it writes."""
    client, token = await fuzzer.client(logged_in=True)
    path = fill(rule, await fuzzer.values())
    body = urlencoded([(b"body", b"a" * 100_000), (b"next", b"/")])
    headers = {"Content-Type": FORM}
    if token_in == "field":
        body = f"csrf_token={token}&".encode() + body
    else:
        headers["X-CSRFToken"] = token
    before = await all_rows(app)

    response = await client.post(path, data=body, headers=headers)

    if token_in == "field":  # the CSRF check reads the form first
        assert response.status_code == 413
        assert "Too large" in await response.get_data(as_text=True)
    if response.status_code >= 400:
        assert await all_rows(app) == before


async def test_stored_headers_are_cleaned(app: Quart, client, auth: AuthActions) -> None:
    """User-Agent and (behind a trusted proxy) X-Forwarded-For end up in login_sessions;
    control characters and overlong values must not."""
    headers = {"User-Agent": "evil\x01\x1b[2J\x7f" + "é" * 400, "X-Forwarded-For": "\x02" * 100}
    token = await client.csrf_token()
    form = {
        "csrf_token": token,
        "username": "fuzzer",
        "email": "fuzzer@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    response = await client.post("/auth/signup", form=form, headers=headers)
    assert response.status_code == 302
    assert_rows_valid(await all_rows(app))
    async with db.sessionmaker(app)() as session:
        login = await session.scalar(select(LoginSession))
    assert login.user_agent.startswith("evil[2J")


async def raw_request(port: int, head: bytes) -> bytes:
    """Send a request head as given; the status line that comes back (b"" if none)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await reader.readline()
    except ConnectionError:
        return b""
    finally:
        writer.close()


def get(target: bytes, *headers: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + b"".join(headers) + b"\r\n"


async def test_the_server_refuses_overlong_request_lines_and_headers(
    settings_overrides: dict[str, Any],
) -> None:
    """hypercorn.toml's h11_max_incomplete_size refuses (431) a request line or header
    block still incomplete past the limit, before the app sees it. One that arrives
    whole in a single read passes, so the hard cap of hypercorn alone is its read
    size, 64 KiB (README: the sample nginx in front allows 8 KiB a line)."""
    config = HypercornConfig.from_toml(ROOT / "hypercorn.toml")
    limit = config.h11_max_incomplete_size
    assert 8 * 1024 <= limit <= 64 * 1024
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.bind = [f"127.0.0.1:{port}"]
    config.workers = 1
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    app = create_app(settings_overrides)
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    try:
        for _ in range(200):  # until it listens
            with contextlib.suppress(OSError):
                await raw_request(port, get(b"/healthz"))
                break
            await asyncio.sleep(0.05)

        fits = await raw_request(port, get(b"/healthz?pad=" + b"a" * 2000))
        assert fits.startswith(b"HTTP/1.1 200"), fits
        refused = [
            b"GET /?pad=" + b"a" * limit,  # still no end of line
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * limit,  # nor of the header
            get(b"/healthz?pad=" + b"a" * (MAX_RECV + 1)),  # whole, but more than one read
        ]
        for head in refused:
            status = await raw_request(port, head)
            assert status.startswith(b"HTTP/1.1 431"), (head[:40], status)
    finally:
        stop.set()
        await server
