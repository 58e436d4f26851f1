"""Deployment: production refusals, proxy headers, the hypercorn config, the sample nginx
site and systemd unit, and real hypercorn processes: two instances sharing PostgreSQL
and Redis, one with Redis down, and SIGTERM in the middle of a request.

The two instances need PostgreSQL (whatever this run's test database: they share a fresh
one of their own, migrated with `guestbook db upgrade`) and `redis-server` (they get their
own); the sample files need nginx, openssl and systemd-analyze. On a developer's machine
without one, its tests skip with the reason; in CI (CI=true) they fail. The Redis-down and
SIGTERM tests run one instance on this run's database: SQLite (production with
GUESTBOOK_ALLOW_SQLITE=1) or PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import logging
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import redis
from hypercorn.config import Config as HypercornConfig
from quart import Quart, request, url_for
from sqlalchemy import select
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import InvalidStatus

from guestbook import cli, db
from guestbook.config import ConfigError, Settings, named
from guestbook.models import LoginSession
from guestbook.web.logs import LOGGING, RequestIdFilter
from nginx_site import sample_site
from servers import (
    GUESTBOOK,
    HYPERCORN_TOML,
    LiveServer,
    child_env,
    free_port,
    migrate,
    next_event,
    serving,
    wait_until,
)
from support import (
    ON_POSTGRES,
    PASSWORD,
    ROOT,
    Visitor,
    _unavailable,
    new_ip,
    new_name,
    post_form,
    production_env,
    signup,
)

DEPLOY = ROOT / "deploy"
# What the sample unit sets for Python itself (PYTHONOPTIMIZE): the instances below
# run with it, as deployed.
UNIT_ENVIRONMENT = dict(
    re.findall(r"^Environment=(\w+)=(\S+)$", (DEPLOY / "guestbook.service").read_text(), re.M)
)
SLOW_APP = Path(__file__).with_name("slow_asgi.py")

LOGIN_LIMIT = 3


# --- Production settings: each refusal is one line, from Settings and from the CLI ---

GOOD_PRODUCTION = production_env("postgresql+asyncpg://guestbook@db.example.org/guestbook")
REFUSALS = {
    "missing secret key": (
        {"GUESTBOOK_SECRET_KEY": None},
        "GUESTBOOK_SECRET_KEY must be set to at least 32 bytes in production",
    ),
    "short secret key": (
        {"GUESTBOOK_SECRET_KEY": "x" * 31},
        "GUESTBOOK_SECRET_KEY must be set to at least 32 bytes in production",
    ),
    "SQLite without GUESTBOOK_ALLOW_SQLITE": (
        {"GUESTBOOK_DATABASE_URL": "sqlite+aiosqlite:////srv/guestbook/guestbook.sqlite3"},
        "GUESTBOOK_DATABASE_URL is SQLite in production",
    ),
    "PostgreSQL without asyncpg": (
        {"GUESTBOOK_DATABASE_URL": "postgresql://guestbook@db.example.org/guestbook"},
        "must use the async driver: postgresql+asyncpg://",
    ),
}


def refused_env(changes: dict[str, str | None]) -> dict[str, str]:
    env = {**GOOD_PRODUCTION, **changes}
    return {key: value for key, value in env.items() if value is not None}


def test_production_refusals_are_one_line_from_settings_and_from_the_cli(tmp_path: Path) -> None:
    Settings.from_env(GOOD_PRODUCTION)  # the baseline passes; each case changes one thing
    for case, (changes, expected) in REFUSALS.items():
        with pytest.raises(ConfigError) as refused:
            Settings.from_env(refused_env(changes))
        assert expected in str(refused.value), case
        assert "\n" not in str(refused.value), case

    # The same settings through `guestbook serve`, all at once: exit 1, one line, no traceback.
    running = {
        case: subprocess.Popen(
            [GUESTBOOK, "serve", "-c", HYPERCORN_TOML],
            cwd=tmp_path,
            env=child_env(refused_env(changes)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for case, (changes, _) in REFUSALS.items()
    }
    try:
        for case, process in running.items():
            stdout, stderr = process.communicate(timeout=60)
            lines = stderr.splitlines()
            assert process.returncode == 1, (case, stdout, stderr)
            assert (stdout, len(lines)) == ("", 1), (case, stdout, stderr)
            assert lines[0].startswith("guestbook: ") and REFUSALS[case][1] in lines[0], case
    finally:  # a server that wrongly started must not outlive the test
        for process in running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def test_the_readme_lists_every_setting() -> None:
    """The Configuration table names every GUESTBOOK_* variable, and no other. A row may
    shorten a family: `GUESTBOOK_DB_POOL_SIZE` / `_MAX_OVERFLOW` means GUESTBOOK_DB_MAX_OVERFLOW."""
    settings = {f"GUESTBOOK_{name.upper()}" for name, _, _ in named(Settings())}
    section = (ROOT / "README.md").read_text().split("\n## Configuration\n")[1].split("\n## ")[0]
    listed = set()
    for cell in re.findall(r"^\| (`GUESTBOOK_[^|]*)\|", section, re.MULTILINE):
        first, *shortened = re.findall(r"`([A-Z0-9_]+)`", cell)
        family = "GUESTBOOK_" + first.removeprefix("GUESTBOOK_").split("_")[0]
        listed |= {first} | {
            family + rest if family + rest in settings else "GUESTBOOK" + rest for rest in shortened
        }
    assert sorted(settings - listed) == [], "settings missing from the README's table"
    assert sorted(listed - settings) == [], "the README's table lists settings that do not exist"


# --- Proxy headers: ignored unless GUESTBOOK_PROXY_HOPS says how many proxies to trust ---

PEER = {"client": ("192.0.2.10", 51000)}  # the address the TCP connection comes from
FORWARDED = {
    "X-Forwarded-For": "198.51.100.1, 203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "guestbook.example.org",
}


@pytest.fixture
def settings_overrides(
    settings_overrides: dict[str, Any], request: pytest.FixtureRequest
) -> dict[str, Any]:
    """This module's in-process app: `proxy_hops` from the test's parameter (0 if none)."""
    return {**settings_overrides, "login_limit": 2, "proxy_hops": getattr(request, "param", 0)}


def add_probe(app: Quart) -> None:
    """A test-only route showing what the app believes about the request."""

    @app.get("/_probe")
    async def probe() -> dict[str, str | None]:
        logging.getLogger("guestbook.probe").warning("probe")
        return {
            "remote_addr": request.remote_addr,
            "scheme": request.scheme,
            "index": url_for("messages.index", _external=True),
        }


async def ask_probe(app: Quart, client: Any) -> dict[str, str]:
    add_probe(app)
    response = await client.get("/_probe", headers=FORWARDED, scope_base=PEER)
    return await response.get_json()


async def login_session_ip(app: Quart, client: Any) -> str:
    """Sign up (which logs in) with the forwarded headers; the new login row's address."""
    form = {
        "username": "alice",
        "email": "alice@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    response = await client.post("/auth/signup", form=form, headers=FORWARDED, scope_base=PEER)
    assert response.status_code == 302
    async with db.sessionmaker(app)() as session:
        return (await session.scalars(select(LoginSession.ip))).one()


async def failed_logins(client: Any, forwarded_for: list[str]) -> list[int]:
    """One failed login per address given, all for one name: the (name, address) limit
    stops them only if they count as one address."""
    statuses = []
    for address in forwarded_for:
        response = await client.post(
            "/auth/login",
            form={"username": "nobody", "password": "wrong"},
            headers={**FORWARDED, "X-Forwarded-For": address},
            scope_base=PEER,
        )
        statuses.append(response.status_code)
    return statuses


@pytest.mark.parametrize("settings_overrides", [0], indirect=True)
async def test_forwarded_headers_are_ignored_without_proxy_hops(app: Quart, client: Any) -> None:
    assert await ask_probe(app, client) == {
        "remote_addr": "192.0.2.10",
        "scheme": "http",
        "index": "http://localhost/",
    }
    assert await login_session_ip(app, client) == "192.0.2.10"
    # A new X-Forwarded-For per attempt does not escape the per-address limit (2 on a name).
    assert await failed_logins(client, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
        401,
        401,
        429,
    ]


@pytest.mark.parametrize("settings_overrides", [1], indirect=True)
async def test_forwarded_headers_are_honoured_with_one_proxy_hop(app: Quart, client: Any) -> None:
    # One trusted hop: the last X-Forwarded-For entry, the one our proxy appended.
    assert await ask_probe(app, client) == {
        "remote_addr": "203.0.113.7",
        "scheme": "https",
        "index": "https://guestbook.example.org/",
    }
    assert await login_session_ip(app, client) == "203.0.113.7"
    # The limit counts per forwarded address: three addresses pass, one address is stopped.
    assert await failed_logins(client, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [
        401,
        401,
        401,
    ]
    assert await failed_logins(client, ["203.0.113.9"] * 3) == [401, 401, 429]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(logging.Formatter(LOGGING["formatters"]["app"]["format"]))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_app_log_lines_carry_the_request_id(app: Quart, client: Any) -> None:
    add_probe(app)
    handler = _Collect()
    logger = logging.getLogger("guestbook")
    logger.addHandler(handler)
    try:
        response = await client.get("/_probe", headers={"X-Request-ID": "probe-42"})
        logging.getLogger("guestbook.probe").warning("outside")
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-ID"] == "probe-42"
    assert [line.split("] ", 2)[-1] for line in handler.lines] == [
        "guestbook.probe request_id=probe-42 probe",
        "guestbook.probe request_id=- outside",
    ]


# --- The sample hypercorn.toml, as `guestbook serve -c hypercorn.toml` reads it ---


def serve_args(**given: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"config": None, "bind": None, "workers": None, **given})


def test_serve_reads_the_sample_hypercorn_toml() -> None:
    sample = tomllib.loads(HYPERCORN_TOML.read_text())
    unknown = [key for key in sample if not hasattr(HypercornConfig, key)]
    assert unknown == [], "hypercorn silently ignores unknown keys"

    config = cli.hypercorn_config(serve_args(config=str(HYPERCORN_TOML)))
    assert config.application_path == "guestbook.asgi:app"
    assert config.bind == sample["bind"]
    assert config.worker_class == "uvloop"  # the dev extras install it
    assert config.graceful_timeout == sample["graceful_timeout"]
    assert config.logconfig_dict is LOGGING  # app log lines carry the request id
    assert "%({x-request-id}o)s" in config.access_log_format

    config = cli.hypercorn_config(
        serve_args(config=str(HYPERCORN_TOML), bind=["127.0.0.1:9001"], workers=3)
    )
    assert (config.bind, config.workers) == (["127.0.0.1:9001"], 3)


def test_serve_falls_back_to_asyncio_without_uvloop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    config = cli.hypercorn_config(serve_args(config=str(HYPERCORN_TOML)))
    assert config.worker_class == "asyncio"
    assert "uvloop is not installed" in capsys.readouterr().err


# --- The sample systemd unit ---


def test_the_sample_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        _unavailable("systemd-analyze is not installed (apt-get install systemd)")
    unit = (DEPLOY / "guestbook.service").read_text()
    # The hosts's SIGTERM must reach hypercorn's main process only (the live tests
    # below stop servers that way), and systemd must wait longer than hypercorn does.
    assert "\nKillMode=mixed\n" in unit
    stop_seconds = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.MULTILINE)[1])
    assert tomllib.loads(HYPERCORN_TOML.read_text())["graceful_timeout"] < stop_seconds
    # Our own checkout stands in for /srv/guestbook, so the ExecStart binary exists.
    checked = tmp_path / "guestbook.service"
    checked.write_text(unit.replace("/srv/guestbook", str(ROOT)))
    result = subprocess.run([analyze, "verify", checked], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_sample_unit_runs_python_without_docstrings() -> None:
    # `-OO`: docstrings are not loaded, some 2 MB of each worker (README, Deployment).
    assert UNIT_ENVIRONMENT["PYTHONOPTIMIZE"] == "2"


# --- Live servers ---


async def logged(paths: list[Path], *texts: str) -> str:
    """The logs at `paths`, once all `texts` are in them or 30 s have passed: servers write
    a request's access line just after its response is sent."""
    for _ in range(600):
        logs = "".join(path.read_text(errors="replace") for path in paths if path.exists())
        if all(text in logs for text in texts):
            break
        await asyncio.sleep(0.05)
    return logs


async def login(
    client: httpx.AsyncClient, base: str, name: str, password: str = PASSWORD
) -> httpx.Response:
    return await post_form(client, f"{base}/auth/login", {"username": name, "password": password})


async def welcomes(client: httpx.AsyncClient, base: str, name: str) -> bool:
    return f"Welcome, {name}!" in (await client.get(f"{base}/")).text


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of this module's own, keeping nothing on disk. A shared one would
    mix counts between runs: each run's fresh database numbers its users from 1 again,
    and login failures are counted per user id."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        wait_until(client.ping, process, errors=(redis.ConnectionError,))
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, shared_database: str, redis_url: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Instances A and B: `guestbook serve -c hypercorn.toml` twice, one database, one
    Redis, behind a proxy (PROXY_HOPS=1) that the tests play or nginx plays."""
    env = production_env(
        shared_database,
        GUESTBOOK_REDIS_URL=redis_url,
        GUESTBOOK_PROXY_HOPS="1",
        GUESTBOOK_LOGIN_LIMIT=str(LOGIN_LIMIT),
        # A day-long window: a fixed window must not roll over between A's and B's part.
        GUESTBOOK_LOGIN_WINDOW_SECONDS="86400",
        # These tests read hypercorn's access lines (a User-Agent, `request_id=`); the
        # JSON log production writes by default has tests of its own (web/test_json_logs.py).
        GUESTBOOK_LOG_FORMAT="text",
        # test_restarts.py's writers post steadily through the restarts.
        GUESTBOOK_POST_LIMIT="10000",
        **UNIT_ENVIRONMENT,
    )
    workdir = tmp_path_factory.mktemp("cluster")
    a, b = LiveServer(workdir, env), LiveServer(workdir, env)
    with serving(a, b):
        yield a, b


@pytest.fixture(scope="module")
def single_host_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """One machine's settings on this run's database: the SQLite pass runs SQLite in
    production (GUESTBOOK_ALLOW_SQLITE=1, legitimate for one machine and one process),
    the PostgreSQL pass the shared database."""
    readable = {"GUESTBOOK_LOG_FORMAT": "text"}  # as the cluster's: these tests read lines
    if ON_POSTGRES:
        return production_env(request.getfixturevalue("shared_database"), **readable)
    path = tmp_path_factory.mktemp("single") / "guestbook.sqlite3"
    env = production_env(f"sqlite+aiosqlite:///{path}", GUESTBOOK_ALLOW_SQLITE="1", **readable)
    migrate(env)
    return env


async def test_a_login_on_one_instance_holds_on_the_other_until_logged_out_there(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    a, b = cluster
    name, ip = new_name(), new_ip()
    async with Visitor(new_ip()) as newcomer:
        await signup(newcomer, a.url, name)

    async with Visitor(ip) as browser:
        logged_in = await login(browser, a.url, name)
        assert logged_in.status_code == 302
        assert "secure" in logged_in.headers["set-cookie"].lower()
        assert await welcomes(browser, b.url, name)
        # B's session list shows the row A wrote, with the address the proxy forwarded.
        assert f"<td>{ip}</td>" in (await browser.get(f"{b.url}/account/sessions")).text

        login_cookie = browser.jar["__Host-gb_login"]
        logged_out = await post_form(browser, f"{b.url}/auth/logout", {}, page=f"{b.url}/")
        assert logged_out.status_code == 302
        assert not await welcomes(browser, b.url, name)

    # A copy of the old login cookie is dead on A too: its row is gone.
    async with httpx.AsyncClient(headers={"Cookie": f"__Host-gb_login={login_cookie}"}) as replay:
        page = await replay.get(f"{a.url}/")
        assert f"Welcome, {name}!" not in page.text
        assert ">Log in<" in page.text
        account = await replay.get(f"{a.url}/account/sessions")
        assert account.status_code == 302
        assert account.headers["location"].startswith("/auth/login")


async def test_a_rate_limit_reached_through_one_instance_holds_on_the_other(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    a, b = cluster
    name = new_name()
    async with Visitor(new_ip()) as newcomer:
        await signup(newcomer, a.url, name)
    async with Visitor(new_ip()) as guesser:
        for _ in range(LOGIN_LIMIT):
            assert (await login(guesser, a.url, name, "wrong guess")).status_code == 401
        # Even the right password is refused on B: the count is in the shared Redis.
        refused = await login(guesser, b.url, name)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0


async def test_a_message_posted_on_one_instance_shows_on_the_other(
    cluster: tuple[LiveServer, LiveServer],
) -> None:
    a, b = cluster
    name, body = new_name(), f"Posted on A, {uuid.uuid4().hex}"
    async with Visitor(new_ip()) as writer:
        await signup(writer, a.url, name)
        posted = await post_form(writer, f"{a.url}/messages", {"body": body}, page=f"{a.url}/")
        assert posted.status_code == 302
    async with httpx.AsyncClient() as reader:
        assert body in (await reader.get(f"{b.url}/")).text
        assert body in (await reader.get(f"{b.url}/users/{name}")).text


async def test_the_api_describes_itself_under_the_units_python_flags(
    cluster: tuple[LiveServer, LiveServer], app: Quart
) -> None:
    # The instances run `python -OO`, which drops the docstrings quart-schema and
    # pydantic write the API's document from; the API reads them back from its source.
    async with httpx.AsyncClient() as client:
        served = (await client.get(f"{cluster[0].url}/openapi.json")).json()
    written = await (await app.test_client().get("/openapi.json")).get_json()
    assert not sys.flags.optimize  # this process keeps its docstrings: the reference
    assert (served["paths"], served["components"]) == (written["paths"], written["components"])
    summaries = [op.get("summary") for path in served["paths"].values() for op in path.values()]
    assert all(summaries) and len(summaries) >= 11


@pytest.fixture
def nginx(cluster: tuple[LiveServer, LiveServer], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The sample nginx site in front of instances A and B."""
    with sample_site(tmp_path, [server.port for server in cluster]) as site:
        yield site


async def test_the_sample_nginx_site_in_front_of_both_instances(
    cluster: tuple[LiveServer, LiveServer], nginx: dict[str, Any]
) -> None:
    a, b = cluster
    https = nginx["https"]
    marker = f"nginx-test-{uuid.uuid4().hex[:8]}"
    # What a client claims about itself is not believed: nginx appends the address it
    # sees, and replaces the scheme and the request id.
    claims = {
        "X-Forwarded-For": "203.0.113.66",
        "X-Request-ID": "claimed-by-client",
        "User-Agent": marker,
    }
    async with httpx.AsyncClient(verify=False, headers=claims, timeout=30) as client:  # noqa: S501
        plain = await client.get(f"{nginx['http']}/")
        assert plain.status_code == 301
        assert plain.headers["location"].startswith("https://")

        name = new_name()
        await signup(client, https, name)  # real TLS: the Secure cookies come back
        assert await welcomes(client, https, name)
        sessions = (await client.get(f"{https}/account/sessions")).text
        assert "<td>127.0.0.1</td>" in sessions
        assert "203.0.113.66" not in sessions

        ids = []
        for _ in range(4):
            response = await client.get(f"{https}/healthz")
            assert response.status_code == 200
            ids.append(response.headers["X-Request-ID"])
        assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in ids), ids  # nginx's ids

        # The live socket goes through nginx too (Upgrade), from a page of this site.
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        wss = "wss" + https.removeprefix("https") + "/live"
        async with websockets_connect(wss, origin=https, ssl=tls) as live:
            assert (await next_event(live))["type"] == "reload"
        with pytest.raises(InvalidStatus) as foreign:
            async with websockets_connect(wss, origin="https://evil.example", ssl=tls):
                pass
        assert foreign.value.response.status_code == 403

        too_big = await client.post(f"{https}/messages", content=b"x" * 70_000)
        assert too_big.status_code == 413
        too_long = await client.get(f"{https}/" + "x" * 9_000)
        assert too_long.status_code == 414

    # Round robin: both instances served this client; each id is in nginx's log and
    # in the access log of the instance that answered.
    assert marker in await logged([a.log_path], marker)
    assert marker in await logged([b.log_path], marker)
    id_lines = [f"request_id={rid}" for rid in ids]
    nginx_log = await logged([nginx["access_log"]], *id_lines)
    app_logs = await logged([a.log_path, b.log_path], *id_lines)
    for line in id_lines:
        assert line in nginx_log
        assert line in app_logs


async def test_nginx_shares_readers_pages_for_a_second_and_never_members(
    cluster: tuple[LiveServer, LiveServer], nginx: dict[str, Any]
) -> None:
    https, name = nginx["https"], new_name()
    reader = httpx.AsyncClient(verify=False, timeout=30)  # noqa: S501
    member = httpx.AsyncClient(verify=False, timeout=30)  # noqa: S501
    async with reader, member:
        pages = [await reader.get(f"{https}/") for _ in range(3)]
        statuses = [page.headers["X-Cache-Status"] for page in pages]
        assert "HIT" in statuses[1:], statuses
        # One request id on each answer, a kept copy's too (the id of the request that
        # rendered it: README, hypercorn.toml and the logs).
        assert [len(page.headers.get_list("X-Request-ID")) for page in pages] == [1, 1, 1]
        await signup(member, https, name)
        page = await member.get(f"{https}/")
        assert page.headers["X-Cache-Status"] == "BYPASS"
        assert f"Welcome, {name}!" in page.text
        body = f"for readers {uuid.uuid4().hex}"
        posted = await post_form(member, f"{https}/messages", {"body": body}, page=f"{https}/")
        assert posted.status_code == 302
        # A reader's copy never carries a member's page. Once the second is up, the kept
        # copy is still served (STALE) while nginx fetches the page in the background;
        # the next reader gets the new one (the page's socket covers the moment between).
        assert "Welcome" not in (await reader.get(f"{https}/")).text
        await asyncio.sleep(2.1)
        stale = await reader.get(f"{https}/")
        assert stale.headers["X-Cache-Status"] == "STALE"
        assert body not in stale.text
        fresh = await wait_for_page(reader, f"{https}/", body)
        assert fresh.headers["X-Cache-Status"] == "HIT"
        assert "set-cookie" not in fresh.headers


async def test_nginx_shares_a_readers_fragment_per_event_and_never_a_members(
    cluster: tuple[LiveServer, LiveServer], nginx: dict[str, Any]
) -> None:
    """Every open page asks for a new message's fragment: readers' asks are one copy in
    nginx, named by the event, so an edit's event (a new number) gets the new text."""
    https, name = nginx["https"], new_name()
    reader = httpx.AsyncClient(verify=False, timeout=30)  # noqa: S501
    writer = httpx.AsyncClient(verify=False, timeout=30)  # noqa: S501
    async with reader, writer:
        await signup(writer, https, name)
        body = f"shared fragment {uuid.uuid4().hex}"
        posted = await post_form(writer, f"{https}/messages", {"body": body}, page=f"{https}/")
        assert posted.status_code == 302
        ident = int(re.search(r'id="m(\d+)"', (await writer.get(f"{https}/")).text)[1])
        url = f"{https}/messages/{ident}/fragment?seq={{}}"  # as a reader's script asks
        created = [await reader.get(url.format(1)) for _ in range(3)]
        assert all(body in answer.text for answer in created)
        assert "HIT" in [answer.headers["X-Cache-Status"] for answer in created[1:]]
        assert all("set-cookie" not in answer.headers for answer in created)
        # A fragment shows no popup: a reader who skipped it gets the same copy.
        skipped = await reader.get(url.format(1), headers={"Cookie": "popup_skip=yes"})
        assert skipped.headers["X-Cache-Status"] in ("HIT", "STALE"), skipped.headers
        mine = await writer.get(f"{https}/messages/{ident}/fragment?seq=1&next=/")
        assert mine.headers["X-Cache-Status"] == "BYPASS"
        assert ">Edit</a>" in mine.text

        edit = f"{https}/messages/{ident}/edit"
        edited = await post_form(writer, edit, {"body": body + " (edited)"})
        assert edited.status_code == 302
        # The created event's copy is still what nginx keeps under its URL; the edit's
        # event names another, which the app answers with the edit.
        assert "(edited)" not in (await reader.get(url.format(1))).text
        assert body + " (edited)" in (await reader.get(url.format(2))).text
        # Asked without the event (an older script): never a kept copy.
        old_way = [await reader.get(url.split("?")[0] + "?next=/") for _ in range(2)]
        assert [answer.headers["X-Cache-Status"] for answer in old_way] == ["MISS", "MISS"]
        assert all("(edited)" in answer.text for answer in old_way)


async def test_nginx_keeps_a_static_file_by_its_fingerprint_and_asks_for_the_rest(
    cluster: tuple[LiveServer, LiveServer], nginx: dict[str, Any]
) -> None:
    """The URL a page names (`?v=` and the file's fingerprint) is kept for good; any
    other is asked of the app each time. Two instances of a release agree on the ETag."""
    https = nginx["https"]
    async with httpx.AsyncClient(verify=False, timeout=30) as reader:  # noqa: S501
        page = (await reader.get(f"{https}/")).text
        named = re.search(r'href="(/static/style\.css\?v=[0-9a-f]{16})"', page)[1]
        kept = [await reader.get(f"{https}{named}") for _ in range(2)]
        # One copy whatever the language and the popup choice.
        kept.append(
            await reader.get(
                f"{https}{named}",
                headers={"Accept-Language": "ko-KR,ko;q=0.9", "Cookie": "popup_skip=yes"},
            )
        )
        assert [answer.headers["X-Cache-Status"] for answer in kept[1:]] == ["HIT", "HIT"]
        assert {answer.headers["Cache-Control"] for answer in kept} == {
            "public, max-age=31536000, immutable"
        }
        asked = [await reader.get(f"{https}/static/style.css") for _ in range(2)]
        assert [answer.headers["X-Cache-Status"] for answer in asked] == ["MISS", "MISS"]
        assert {answer.text for answer in kept + asked} == {kept[0].text}
        etags = {(await reader.get(f"{server.url}{named}")).headers["ETag"] for server in cluster}
        assert etags == {kept[0].headers["ETag"]}


async def wait_for_page(client: httpx.AsyncClient, url: str, text: str) -> httpx.Response:
    """The page at `url` once it shows `text` (nginx's background fetch has landed)."""
    for _ in range(50):
        response = await client.get(url)
        if text in response.text:
            return response
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never showed at {url}")


# Accept-Language headers as browsers send them, and the language the app would choose.
ACCEPT_LANGUAGES = {
    "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7": "ko",
    "ko": "ko",
    "fr-FR,fr;q=0.9,ko;q=0.8": "ko",
    "en-US,en;q=0.9": "en",
    "en-GB,en;q=0.9,ko;q=0.8": "en",
    "de-DE,de;q=0.9": "en",  # neither: the default
    "ko;q=0,en;q=0.5": "en",  # q=0 refuses
    "": "en",
}


async def test_nginx_keeps_two_languages_of_a_readers_page_and_the_app_agrees(
    cluster: tuple[LiveServer, LiveServer], nginx: dict[str, Any]
) -> None:
    """The cache key holds the language nginx chose (from the `lang` cookie, then
    Accept-Language), and the app is sent that choice: a page per language, whatever
    the raw header, each in the language of its key."""
    url = f"{nginx['https']}/?lang-test={uuid.uuid4().hex[:8]}"  # a page of its own
    statuses = []
    async with httpx.AsyncClient(verify=False, timeout=30) as reader:  # noqa: S501
        for _ in range(2):
            for accept, language in ACCEPT_LANGUAGES.items():
                page = await reader.get(url, headers={"Accept-Language": accept})
                assert f'<html lang="{language}">' in page.text, accept
                statuses.append(page.headers["X-Cache-Status"])
            # A valid `lang` cookie wins over Accept-Language; an invalid one is ignored.
            for cookie, language in (("lang=ko", "ko"), ("lang=en", "en"), ("lang=fr", "ko")):
                headers = {"Accept-Language": "ko", "Cookie": cookie}
                page = await reader.get(url, headers=headers)
                assert f'<html lang="{language}">' in page.text, cookie
                statuses.append(page.headers["X-Cache-Status"])
                assert "set-cookie" not in page.headers
    # One fetch per language; every other request is answered from a kept copy.
    assert statuses.count("MISS") == 2, statuses
    assert set(statuses) <= {"MISS", "HIT", "STALE", "UPDATING"}, statuses


class _SetsCookies(http.server.BaseHTTPRequestHandler):
    """An upstream whose every page says a shared cache may keep it for a minute, and
    which sets a cookie on /cookie: only the cookie should stop nginx keeping it."""

    protocol_version = "HTTP/1.1"  # nginx's keep-alive connections
    served: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.served.append(self.path)
        body = f"{self.path} #{len(self.served)}".encode()
        self.send_response(200)
        self.send_header("Cache-Control", "public, s-maxage=60")
        if self.path.startswith("/cookie"):
            self.send_header("Set-Cookie", f"visit=v{len(self.served)}; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_nginx_never_keeps_a_response_that_sets_a_cookie(tmp_path: Path) -> None:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SetsCookies)
    thread = threading.Thread(target=upstream.serve_forever, daemon=True)
    thread.start()
    try:
        with (
            sample_site(tmp_path, [upstream.server_address[1]]) as site,
            httpx.Client(base_url=site["https"], verify=False) as reader,  # noqa: S501
        ):
            plain = [reader.get("/plain").headers["X-Cache-Status"] for _ in range(2)]
            # A cookie the client sends back is not the member's: no bypass for it.
            cookie = [reader.get("/cookie") for _ in range(2)]
        assert plain == ["MISS", "HIT"]  # the same page without a cookie is kept
        assert [r.headers["X-Cache-Status"] for r in cookie] == ["MISS", "MISS"]
        assert _SetsCookies.served.count("/cookie") == 2  # both reached the upstream
        assert cookie[0].cookies["visit"] != cookie[1].cookies["visit"]
    finally:
        upstream.shutdown()
        upstream.server_close()


async def test_without_redis_the_app_serves_and_readyz_says_so(
    tmp_path: Path, single_host_env: dict[str, str]
) -> None:
    env = {
        **single_host_env,
        "GUESTBOOK_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens
        "GUESTBOOK_LOGIN_LIMIT": "2",
    }
    rid = f"redis-down-{secrets.token_hex(4)}"
    with LiveServer(tmp_path, env) as server:
        async with Visitor() as client:
            ready = await client.get(f"{server.url}/readyz", headers={"X-Request-ID": rid})
            assert ready.status_code == 200
            checks = ready.json()["checks"]
            assert checks.pop("live", "ok") == "ok"  # PostgreSQL's LISTEN connection
            assert checks == {"database": "ok", "redis": "unavailable (rate limits per-process)"}
            assert (await client.get(f"{server.url}/")).status_code == 200
            # Rate limits still hold, counted in this process.
            statuses = [
                (await login(client, server.url, "nobody", "wrong")).status_code for _ in range(3)
            ]
            assert statuses == [401, 401, 429]
    log = server.log()
    # The warning is an app log line with the id of the request that met the outage;
    # the access log line of that request carries the same id.
    logger = r"guestbook\.limits\.ratelimit"
    assert re.search(rf"\[WARNING\] {logger} request_id={rid} Redis unreachable", log)
    assert re.search(rf'"GET /readyz 1\.1" 200 .* request_id={rid}$', log, re.MULTILINE)


async def test_sigterm_lets_the_request_in_flight_finish_then_shuts_the_app_down(
    tmp_path: Path, single_host_env: dict[str, str]
) -> None:
    graceful = tomllib.loads(HYPERCORN_TOML.read_text())["graceful_timeout"]
    hypercorn = [sys.executable, "-m", "hypercorn", "--config", HYPERCORN_TOML, "--workers", "1"]
    env = {**single_host_env, "GUESTBOOK_MAIL_BACKEND": "smtp"}  # so the sender runs
    with LiveServer(tmp_path, env, argv=[*hypercorn, f"{SLOW_APP}:app"]) as server:
        async with httpx.AsyncClient(timeout=graceful + 10) as client:
            slow = asyncio.create_task(client.get(f"{server.url}/slow"))
            assert "slow request started" in await logged([server.log_path], "slow request started")
            os.kill(server.pid, signal.SIGTERM)  # as systemd's KillMode=mixed sends it
            response = await slow
        assert (response.status_code, response.text) == (200, "slow request finished")
        assert server.wait(timeout=graceful) == 0

    log = server.log()
    started = re.search(r"^started: app tasks \[(.*)\]$", log, re.MULTILINE)
    assert started and "mail sender" in started[1], log
    assert "stopped: app tasks still running [], engine disposed True" in log
