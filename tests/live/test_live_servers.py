"""/live across real servers on PostgreSQL: `guestbook serve` twice on one database. A
post through one instance and a psql-style INSERT arrive on the other's sockets; a
server going away closes its sockets with 1001 and a client resumes on another
without missing anything; the LISTEN connection comes back by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from servers import LiveServer, next_event, serving
from support import Visitor, new_ip, new_name, post_form, production_env, signup

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def env(shared_database: str) -> dict[str, str]:
    return production_env(
        shared_database, GUESTBOOK_PROXY_HOPS="1", GUESTBOOK_LIVE_POLL_SECONDS="0.5"
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[tuple]:
    workdir = tmp_path_factory.mktemp("live-pair")
    with serving(LiveServer(workdir, env), LiveServer(workdir, env)) as servers:
        yield servers


def socket_to(server: LiveServer, after: int | None = None) -> connect:
    query = "" if after is None else f"?after={after}"
    return connect(f"ws://127.0.0.1:{server.port}/live{query}", origin=server.url)


async def caught_up(socket: ClientConnection) -> int:
    """A socket opened without a number is told to reload, with the newest one."""
    event = await next_event(socket)
    assert event["type"] == "reload"
    return event["seq"]


async def member_posts(server: LiveServer, body: str) -> None:
    async with Visitor(new_ip()) as browser:
        await signup(browser, server.url, new_name())
        posted = await post_form(
            browser, f"{server.url}/messages", {"body": body}, f"{server.url}/"
        )
        assert posted.status_code == 302


async def by_hand(database_url: str, statement: str) -> None:
    """What psql would do: a statement on a connection of its own, not the app's."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def message_id(database_url: str, body: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.scalar(
                text("SELECT id FROM messages WHERE body = :body"), {"body": body}
            )
    finally:
        await engine.dispose()


async def test_a_post_on_one_instance_and_a_raw_insert_arrive_on_the_other(
    pair: tuple[LiveServer, LiveServer], shared_database: str
) -> None:
    a, b = pair
    async with socket_to(b) as on_b, socket_to(a) as on_a:
        await caught_up(on_b)
        await caught_up(on_a)
        await member_posts(a, "posted on A")
        posted = await next_event(on_b)
        assert posted["type"] == "created"
        assert posted["id"] == await message_id(shared_database, "posted on A")
        assert await next_event(on_a) == posted

        await by_hand(
            shared_database,
            "INSERT INTO messages (body, created_at, writer_id) "
            "SELECT 'by hand', now(), min(id) FROM users",
        )
        inserted = await next_event(on_b)
        assert inserted["type"] == "created" and inserted["seq"] == posted["seq"] + 1
        assert inserted["id"] == await message_id(shared_database, "by hand")
        assert await next_event(on_a) == inserted

        # A rolled-back write by hand sends nothing: the next event is the next commit.
        engine = create_async_engine(shared_database)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("DELETE FROM messages"))
                await connection.rollback()
        finally:
            await engine.dispose()
        await by_hand(
            shared_database,
            "UPDATE messages SET body = 'edited by hand' WHERE body = 'by hand'",
        )
        edited = await next_event(on_b)
        assert (edited["type"], edited["id"], edited["seq"]) == (
            "edited",
            inserted["id"],
            inserted["seq"] + 1,
        )

    ready = httpx.get(f"{b.url}/readyz").json()
    assert ready["checks"]["live"] == "ok"


async def test_sigterm_closes_with_1001_and_the_client_resumes_elsewhere_missing_nothing(
    tmp_path: Path, env: dict[str, str], shared_database: str, pair: tuple
) -> None:
    _a, b = pair
    going = LiveServer(tmp_path, env)
    with serving(going):
        async with socket_to(going) as socket:
            seen = await caught_up(socket)
            await asyncio.to_thread(going.stop)  # SIGTERM, as systemd sends it
            with pytest.raises(ConnectionClosed) as closed:
                await next_event(socket)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert going.returncode == 0
    # While the page has no socket, two writes; it resumes from `seen` on B.
    await member_posts(b, "while away")
    await by_hand(shared_database, "DELETE FROM messages WHERE body = 'while away'")
    async with socket_to(b, after=seen) as socket:
        missed = [await next_event(socket), await next_event(socket)]
    assert [(e["type"], e["seq"]) for e in missed] == [("created", seen + 1), ("deleted", seen + 2)]
    # A number from another database (a restore, a new server): told to reload.
    async with socket_to(b, after=seen + 1000) as socket:
        assert await next_event(socket) == {"type": "reload", "seq": seen + 2}


async def test_the_listener_reconnects_by_itself(
    pair: tuple[LiveServer, LiveServer], shared_database: str
) -> None:
    _a, b = pair
    async with socket_to(b) as socket:
        seen = await caught_up(socket)
        # Every LISTEN connection to this database is cut, as a restart of PostgreSQL would.
        engine = create_async_engine(shared_database)
        try:
            async with engine.connect() as connection:
                cut = await connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                    )
                )
        finally:
            await engine.dispose()
        assert cut == 2  # A's and B's
        await by_hand(
            shared_database,
            "INSERT INTO messages (body, created_at, writer_id) "
            "SELECT 'during the outage', now(), min(id) FROM users",
        )
        assert (await next_event(socket))["seq"] == seen + 1  # polled meanwhile
        for _ in range(100):
            if httpx.get(f"{b.url}/readyz").json()["checks"]["live"] == "ok":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the LISTEN connection did not come back")
        await by_hand(shared_database, "DELETE FROM messages WHERE body = 'during the outage'")
        assert (await next_event(socket, timeout=3))["seq"] == seen + 2
    assert "LISTEN connection lost" in b.log()
