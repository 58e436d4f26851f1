"""What the benchmark asks of each app, and the logged-in cookies it asks with.

Both apps serve the same URLs and form fields, so one scenario is one request
replayed against either; only the cookies and CSRF tokens differ, and they come from
logging in through each app's real login form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from .load import Request
from .seed import PASSWORD, PROFILED, READER, WRITER, Seeded


@dataclass(frozen=True)
class Visitor:
    """A browser's state, frozen: the Cookie header and the CSRF token of its session."""

    cookie: str
    csrf: str


@dataclass(frozen=True)
class Visitors:
    anonymous: Visitor  # has a session (for the login form's token), no login
    reader: Visitor | None = None  # None when no scenario needs members
    writer: Visitor | None = None
    writer_token: str | None = None  # the writer's API write token (ours only)


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    connections: int
    request: Callable[[Visitors, Seeded], Request]
    page: bool = True  # a page to read, compared with the hello route of its server
    # Our side is the bare Quart app on the same server (bench/baseline/hello.py): what
    # the server itself can do.
    bare: bool = False
    flask: bool = True  # also measured on the feature-equal Flask baseline
    simplest: bool = False  # also measured on the lecture's simplest Flask page
    # Served by workers of their own: the API loads on its first request (`api.routes`),
    # so page workers' memory is measured as a site without API clients has it.
    api: bool = False


POST_BODY = "Hello from the benchmark: a message of ordinary length, posted again and again."
WAIT_SECONDS = 0.05


def _post(path: str, visitor: Visitor, **fields: str) -> Request:
    """A form post as the browser sends it, with the session's CSRF token."""
    headers = {"Cookie": visitor.cookie, "Content-Type": "application/x-www-form-urlencoded"}
    return Request("POST", path, headers, urlencode({**fields, "csrf_token": visitor.csrf}))


SCENARIOS = [
    Scenario(
        "hello",
        "hello route",
        32,
        lambda v, s: Request("GET", "/hello"),
        page=False,
        bare=True,
        simplest=True,
    ),
    Scenario("index", "main page, no cookies", 32, lambda v, s: Request("GET", "/"), simplest=True),
    Scenario(
        "index_member",
        "main page, logged in",
        32,
        lambda v, s: Request("GET", "/", {"Cookie": v.reader.cookie + "; popup_skip=yes"}),
    ),
    Scenario("profile", "a profile page", 32, lambda v, s: Request("GET", f"/users/{PROFILED}")),
    Scenario(
        "page500",
        "page 500 (cursor)",
        32,
        lambda v, s: Request("GET", f"/?before={s.page_cursor}" if s.page_cursor else "/"),
    ),
    # What every open page asks for after each event (static/live.js): the newest
    # message's HTML, here a reader's. The Flask baselines have no live pages.
    Scenario(
        "fragment",
        "a message's fragment",
        32,
        lambda v, s: Request("GET", f"/messages/{s.messages}/fragment?seq=1"),
        flask=False,
    ),
    Scenario(
        "post",
        "POST a message",
        16,
        lambda v, s: _post("/messages", v.writer, body=POST_BODY),
        page=False,
    ),
    Scenario(
        "api_list",
        "GET /api/v1/messages",
        32,
        lambda v, s: Request("GET", "/api/v1/messages"),
        flask=False,
        api=True,
    ),
    Scenario(
        "api_post",
        "POST /api/v1/messages",
        16,
        lambda v, s: Request(
            "POST",
            "/api/v1/messages",
            {"Authorization": f"Bearer {v.writer_token}", "Content-Type": "application/json"},
            json.dumps({"body": POST_BODY}),
        ),
        page=False,
        flask=False,
        api=True,
    ),
    Scenario(
        "login",
        "log in",
        4,  # each login is a deliberately slow argon2 hash; more would only queue
        lambda v, s: _post("/auth/login", v.anonymous, username=READER, password=PASSWORD),
        page=False,
    ),
    Scenario(
        "wait", "page awaiting 50 ms", 64, lambda v, s: Request("GET", "/bench/wait"), page=False
    ),
    Scenario(
        "bare_wait",
        "bare Quart, 50 ms",
        64,
        lambda v, s: Request("GET", "/bench/wait"),
        page=False,
        bare=True,
        flask=False,
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """Just enough of a browser to log in: it keeps cookies itself, because the
    production settings mark them Secure and httpx would not send those over http."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self.client.request(method, path, headers={"Cookie": self.cookie}, **kwargs)
        self.cookies.update(response.cookies)
        self.client.cookies.clear()
        return response

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def visitor(self, path: str = "/auth/login") -> Visitor:
        """The state after a visit to `path`, which must hold a form."""
        page = self.request("GET", path)
        match = _CSRF_RE.search(page.text)
        if page.status_code != 200 or not match:
            raise RuntimeError(f"no form at {self.client.base_url}{path}: {page.status_code}")
        return Visitor(self.cookie, match.group(1))

    def log_in(self, username: str) -> Visitor:
        response = self.request(
            "POST",
            "/auth/login",
            data={"username": username, "password": PASSWORD, "csrf_token": self.visitor().csrf},
        )
        if response.status_code not in (302, 303):
            raise RuntimeError(f"login as {username} failed: {response.status_code}")
        # Logging in renews the session and its CSRF token; the main page shows the new one.
        return self.visitor("/")

    def api_token(self) -> str | None:
        """A write token made on the account page; None for an app without the API."""
        page = self.request("GET", "/account")
        form = _CSRF_RE.search(page.text)
        if page.status_code != 200 or "/account/tokens" not in page.text or not form:
            return None
        data = {"name": "bench", "scope": "write", "csrf_token": form.group(1)}
        made = _TOKEN_RE.search(self.request("POST", "/account/tokens", data=data).text)
        return made.group(1) if made else None


_TOKEN_RE = re.compile(r'<code id="new-token">([^<]+)</code>')
MEMBERS_ONLY = {"index_member", "post", "api_post"}


def visitors(url: str, members: bool) -> Visitors:
    """The visitors of the app at `url`; `members`: log the reader and writer in
    (a login is a deliberately slow hash, so only when a scenario needs them), and
    give the writer an API token where the app has the API."""
    anonymous = Browser(url).visitor()
    if not members:
        return Visitors(anonymous)
    writer = Browser(url)
    logged_in = writer.log_in(WRITER)
    return Visitors(anonymous, Browser(url).log_in(READER), logged_in, writer.api_token())
