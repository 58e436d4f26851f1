"""Faults: the database going away and coming back, a write cut off half way, and a
writer kept waiting by another connection's lock.

Every answer is a page (503 at worst) and /readyz says so; the app recovers without a
restart; and a write that answered 5xx was not stored. PostgreSQL is reached through a
small TCP proxy that the tests cut and restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite
import pytest
from quart import Quart
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from guestbook import db as gb_db
from support import PASSWORD, AuthActions, CSRFClient, all_rows, page_text, serving


class Proxy:
    """A TCP proxy to PostgreSQL on a loopback port. `cut()` drops every connection and
    refuses new ones until `restore()`. `cut_at` patterns cut the one connection whose
    client sends them in order, at the last one, which is not forwarded."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self.cut_at: Sequence[bytes] = ()
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for client, upstream in list(self._links):
            client.transport.abort()
            upstream.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()  # the same port: the app's URL does not change

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, link, watch=True),
                self._pipe(up_reader, writer, link, watch=False),
            )
        finally:
            self._links.discard(link)
            self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        watch: bool,
    ) -> None:
        seen = 0  # of self.cut_at, in order, on this connection
        try:
            while data := await reader.read(65536):
                if watch and seen < len(self.cut_at) and self.cut_at[seen] in data:
                    seen += 1
                    if seen == len(self.cut_at):  # the last one: drop it, and the connection
                        self.cut_at = ()
                        for side in link:
                            side.transport.abort()
                        return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def proxied(app: Quart, database_url: str, settings_overrides: dict[str, Any]):
    """(the app on PostgreSQL through a proxy, the proxy). `app` made the schema."""
    url = make_url(database_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = {**settings_overrides, "database_url": through, "db_connect_timeout": 2}
    async with serving({**settings, "db_pool_timeout": 2}) as served:
        yield served, proxy
    await proxy.cut()


async def post(client: CSRFClient, body: str) -> int:
    return (await client.post("/messages", form={"body": body})).status_code


async def stored_bodies(app: Quart) -> list[str]:
    return sorted(row["body"] for row in (await all_rows(app))["messages"])


@pytest.mark.postgres_only
async def test_outage_is_503_and_the_app_recovers_without_restart(app: Quart, proxied):
    served, proxy = proxied
    browser: CSRFClient = served.test_client()
    assert (await AuthActions(browser).signup("alice", PASSWORD)).status_code == 302
    assert await post(browser, "before") == 302
    assert (await browser.get("/readyz")).status_code == 200

    await proxy.cut()
    for path in ("/", "/users/alice", "/account/sessions"):
        response = await browser.get(path)
        assert response.status_code == 503, path
        assert "cannot reach its database" in await page_text(response)
        assert response.headers["Retry-After"]
    ready = await served.test_client().get("/readyz")  # a probe has no login cookie
    assert ready.status_code == 503
    assert (await ready.get_json())["checks"]["database"] == "unavailable"
    assert await post(browser, "during") == 503
    assert (await app.test_client().get("/healthz")).status_code == 200  # alive, not ready

    await proxy.restore()
    assert (await browser.get("/readyz")).status_code == 200
    assert "before" in await page_text(await browser.get("/"))
    assert await post(browser, "after") == 302
    assert await stored_bodies(app) == ["after", "before"]


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "cut_at",
    [[b"INSERT INTO messages"], [b"INSERT INTO messages", b"COMMIT"]],
    ids=["at-insert", "at-commit"],
)
async def test_a_post_cut_off_half_way_is_503_and_not_stored(app: Quart, proxied, cut_at):
    served, proxy = proxied
    browser: CSRFClient = served.test_client()
    await AuthActions(browser).signup("alice", PASSWORD)
    before = await all_rows(app)

    proxy.cut_at = cut_at
    assert await post(browser, "cut off") == 503
    assert not proxy.cut_at, "the proxy never saw the statement"
    assert await all_rows(app) == before
    assert await post(browser, "next one") == 302  # the pool replaced the dead connection
    assert await stored_bodies(app) == ["next one"]


@pytest.mark.postgres_only
async def test_a_signup_cut_off_at_commit_leaves_no_user_and_no_mail(app: Quart, proxied):
    """The user and the welcome mail are one transaction: both, or neither."""
    served, proxy = proxied
    before = await all_rows(app)
    proxy.cut_at = [b"INSERT INTO users", b"COMMIT"]
    assert (await AuthActions(served.test_client()).signup("alice")).status_code == 503
    assert not proxy.cut_at
    assert await all_rows(app) == before
    assert (await AuthActions(served.test_client()).signup("alice")).status_code == 302


# --- a second connection holding the write lock -----------------------------------------


@contextlib.asynccontextmanager
async def write_lock(database_url: str) -> AsyncIterator[None]:
    """Another connection holding the lock that every message insert needs, and
    writing a row of its own meanwhile: SQLite's single-writer lock, or an exclusive
    lock on PostgreSQL's messages table."""
    if database_url.startswith("sqlite"):
        async with aiosqlite.connect(make_url(database_url).database, isolation_level=None) as conn:
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute(
                "INSERT INTO messages (body, created_at, writer_id) "
                "SELECT 'from the other connection', '2020-01-01 00:00:00', id FROM users LIMIT 1"
            )
            yield
            await conn.execute("COMMIT")
        return
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("LOCK TABLE messages IN EXCLUSIVE MODE"))
            await conn.execute(
                text(
                    "INSERT INTO messages (body, created_at, writer_id) "
                    "SELECT 'from the other connection', now(), id FROM users LIMIT 1"
                )
            )
            yield
    finally:
        await engine.dispose()


async def browsers(app: Quart, count: int) -> list[CSRFClient]:
    """`count` tabs of one logged-in member (copies of one browser's cookies)."""
    first: CSRFClient = app.test_client()
    assert (await AuthActions(first).signup("alice", PASSWORD)).status_code == 302
    await first.csrf_token()
    tabs = [first]
    for _ in range(count - 1):
        tab: CSRFClient = app.test_client()
        for cookie in first.cookie_jar:
            tab.cookie_jar.set_cookie(copy.copy(cookie))
        tabs.append(tab)
    return tabs


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "post_limit": 1000}  # one member posts 40 at once below


async def test_writers_wait_for_a_lock_held_elsewhere_instead_of_failing(
    app: Quart, database_url: str
):
    """Posts racing while another connection holds the write lock (WAL and the busy
    timeout on SQLite, lock waits on PostgreSQL): every one answers 302 and is stored."""
    tabs = await browsers(app, 8)
    async with write_lock(database_url):
        racing = [asyncio.create_task(post(tabs[i % 8], f"post {i}")) for i in range(40)]
        await asyncio.sleep(0.5)  # the posts are queued behind the lock now
        assert not any(task.done() for task in racing)
    statuses = await asyncio.gather(*racing)
    assert statuses == [302] * 40
    bodies = await stored_bodies(app)
    assert bodies == sorted([f"post {i}" for i in range(40)] + ["from the other connection"])


@pytest.fixture
def impatient(settings_overrides: dict[str, Any], monkeypatch) -> dict[str, Any]:
    """Settings under which a write gives up on a lock after 200 ms: SQLite's busy
    timeout (a constant of db.py), PostgreSQL's statement timeout (a setting)."""
    monkeypatch.setattr(gb_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    return {**settings_overrides, "db_statement_timeout_ms": 200}


async def test_a_write_that_waits_too_long_is_503_and_not_stored(
    app: Quart, database_url: str, impatient: dict[str, Any]
):
    async with serving(impatient) as served:
        (tab,) = await browsers(served, 1)
        async with write_lock(database_url):
            response = await tab.post("/messages", form={"body": "gave up"})
            assert response.status_code == 503
            assert "Retry-After" in response.headers
        assert await stored_bodies(app) == ["from the other connection"]
        assert await post(tab, "after the lock") == 302
    assert await stored_bodies(app) == ["after the lock", "from the other connection"]
