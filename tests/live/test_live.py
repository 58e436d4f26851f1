"""/live through Quart's test client: handshakes refused cleanly, events for committed
writes only, resuming, caps, frame size, slow consumers; the fragment the page fetches."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from quart import Quart, Websocket
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError
from sqlalchemy import delete, select, text

from guestbook import db
from guestbook.live import collector, fanout
from guestbook.models import LiveEvent, Message, User
from support import (
    ORIGIN,
    AuthActions,
    CSRFClient,
    newest_seq,
    next_event,
    opened,
    page_text,
    serving,
)


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "live_poll_seconds": 0.2, "live_queue_size": 4}


async def close_code(socket: Any, timeout: float = 5) -> int:
    with pytest.raises(WebsocketDisconnectError) as closed:
        while True:
            await asyncio.wait_for(socket.receive(), timeout)
    return closed.value.args[0]


async def refused(client: CSRFClient, path: str = "/live", **kwargs: Any) -> tuple[int, str]:
    """The status and body of a handshake the app must refuse."""
    with pytest.raises(WebsocketResponseError) as error:
        async with client.websocket(path, **kwargs) as socket:
            await asyncio.wait_for(socket.receive(), 5)
    response = error.value.response
    return response.status_code, (await response.get_data(as_text=True))


async def add_messages(app: Quart, writer: int, *bodies: str) -> None:
    """Rows written by hand, as psql would: one transaction."""
    insert = text(
        "INSERT INTO messages (body, created_at, writer_id) "
        "VALUES (:body, CURRENT_TIMESTAMP, :writer)"
    )
    async with db.engine(app).begin() as connection:
        for body in bodies:
            await connection.execute(insert, {"body": body, "writer": writer})


async def write(app: Quart, *statements: str) -> None:
    async with db.engine(app).begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


async def member(app: Quart, auth: AuthActions, name: str = "alice") -> int:
    await auth.signup(name)
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(User.id).where(User.username == name))


# --- handshakes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/", "/live/x", "/auth/login", "/static/../../etc/passwd", "/%00"]
)
async def test_a_handshake_anywhere_else_is_a_plain_404_and_logs_no_traceback(
    client: CSRFClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.INFO)
    status, body = await refused(client, path, headers=ORIGIN)
    assert (status, body) == (404, "404 Not found\n")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({"Origin": "https://evil.example"}, "", 403),
        ({"Origin": "http://localhost.evil.example"}, "", 403),
        ({"Origin": "null"}, "", 403),
        (ORIGIN, "?after=-1", 400),
        (ORIGIN, "?after=abc", 400),
        (ORIGIN, "?after=" + "9" * 40, 400),
        ({**ORIGIN, "X-Padding": "x" * 17_000}, "", 431),  # a head over max_head_bytes
    ],
)
async def test_hostile_handshakes_are_refused_without_a_traceback(
    client: CSRFClient,
    caplog: pytest.LogCaptureFixture,
    headers: dict,
    query: str,
    status: int,
) -> None:
    caplog.set_level(logging.INFO)
    assert (await refused(client, "/live" + query, headers=headers))[0] == status
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_production_refuses_a_missing_origin_and_takes_its_own(
    database_url: str, tmp_path: Any
) -> None:
    from guestbook import create_app
    from guestbook.models import Base

    app = create_app(
        {
            "env": "production",
            "secret_key": "x" * 40,
            "database_url": database_url,
            "allow_sqlite": True,
            "instance_path": tmp_path / "instance",
            "mail_backend": "null",
            "base_url": "https://guestbook.example.org",
            "allowed_hosts": "guestbook.example.org,localhost",
        }
    )
    async with app.test_app():
        async with db.engine(app).begin() as connection:
            await connection.run_sync(Base.metadata.drop_all)
            await connection.run_sync(Base.metadata.create_all)
        client = app.test_client()
        assert (await refused(client))[0] == 403
        other_host = {"Host": "evil.example", "Origin": "http://evil.example"}
        assert (await refused(client, headers=other_host))[0] == 400  # not a host of ours
        for origin in ("https://guestbook.example.org", "http://localhost"):
            async with client.websocket("/live", headers={"Origin": origin}) as socket:
                assert (await next_event(socket))["type"] == "reload"


# --- events ------------------------------------------------------------------------


async def test_post_edit_and_delete_arrive_as_events_in_order(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    await member(app, auth)
    viewer = app.test_client()
    async with opened(viewer) as socket:
        await client.post("/messages", form={"body": "hello"})
        created = await next_event(socket)
        assert created["type"] == "created"
        message_id = created["id"]
        await client.post(f"/messages/{message_id}/edit", form={"body": "hello again"})
        await client.post(f"/messages/{message_id}/delete", form={})
        edited, deleted = await next_event(socket), await next_event(socket)
    assert (edited["type"], edited["id"]) == ("edited", message_id)
    assert (deleted["type"], deleted["id"]) == ("deleted", message_id)
    assert [created["seq"] + 1, created["seq"] + 2] == [edited["seq"], deleted["seq"]]


async def test_a_rolled_back_write_sends_nothing(app: Quart, auth: AuthActions) -> None:
    writer = await member(app, auth)
    async with opened(app.test_client()) as socket:
        async with db.sessionmaker(app)() as session:
            session.add(Message(body="never", writer_id=writer))
            await session.flush()
            await session.rollback()
        await add_messages(app, writer, "kept")
        event = await next_event(socket)
    async with db.sessionmaker(app)() as session:
        kept = await session.scalar(select(Message.id).where(Message.body == "kept"))
    assert (event["type"], event["id"]) == ("created", kept)
    assert event["seq"] == await newest_seq(app)  # the rolled-back one left no number behind


async def test_every_socket_gets_every_event(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    await member(app, auth)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(opened(app.test_client())) for _ in range(5)]
        await client.post("/messages", form={"body": "to all"})
        events = [await next_event(socket) for socket in sockets]
    assert len({(e["type"], e["id"], e["seq"]) for e in events}) == 1


@pytest.mark.sqlite_only
async def test_a_write_by_another_process_arrives_within_two_seconds(
    app: Quart, auth: AuthActions, database_url: str
) -> None:
    writer = await member(app, auth)
    path = database_url.split("///", 1)[1]
    async with opened(app.test_client()) as socket:
        script = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('INSERT INTO "
            "messages (body, created_at, writer_id) VALUES (?, ?, ?)', "
            "('by hand', '2026-01-01 00:00:00', int(sys.argv[2]))); c.commit()"
        )
        command = [sys.executable, "-c", script, path, str(writer)]
        await asyncio.to_thread(subprocess.run, command, check=True)
        event = await next_event(socket, timeout=2)
    with sqlite3.connect(path) as connection:
        (by_hand,) = connection.execute("SELECT id FROM messages WHERE body = 'by hand'").fetchone()
    assert (event["type"], event["id"]) == ("created", by_hand)


# --- resuming ----------------------------------------------------------------------


async def test_a_client_resumes_after_the_last_event_it_saw(app: Quart, auth: AuthActions) -> None:
    writer = await member(app, auth)
    seen = await newest_seq(app)
    for body in ("one", "two", "three"):
        await add_messages(app, writer, body)
    async with opened(app.test_client(), after=seen) as socket:
        events = [await next_event(socket) for _ in range(3)]
        await write(app, "DELETE FROM messages WHERE body = 'two'")
        later = await next_event(socket)
    assert [e["seq"] for e in events] == [seen + 1, seen + 2, seen + 3]
    assert {e["type"] for e in events} == {"created"}
    assert (later["type"], later["seq"]) == ("deleted", seen + 4)


async def test_exactly_a_queue_of_missed_events_resumes_one_more_reloads(
    app: Quart, auth: AuthActions
) -> None:
    writer = await member(app, auth)
    seen = await newest_seq(app)
    await add_messages(
        app, writer, *(f"m{n}" for n in range(5))
    )  # five events; the queue holds four
    async with opened(app.test_client(), after=seen + 1) as socket:
        resumed = [await next_event(socket) for _ in range(4)]
    assert [e["seq"] for e in resumed] == [seen + 2, seen + 3, seen + 4, seen + 5]
    async with opened(app.test_client(), after=seen) as socket:
        assert await next_event(socket) == {"type": "reload", "seq": seen + 5}


async def test_an_unknown_or_pruned_number_reloads(app: Quart, auth: AuthActions) -> None:
    writer = await member(app, auth)
    await add_messages(app, writer, "a", "b", "c")
    newest = await newest_seq(app)
    # A number from before a restore: the server never had it.
    async with opened(app.test_client(), after=newest + 10) as socket:
        assert await next_event(socket) == {"type": "reload", "seq": newest}
    # A fresh worker reads the log's newest unbroken run: a hole that pruning left
    # (the second of the three events) ends it.
    await write(app, f"DELETE FROM live_events WHERE seq = {newest - 1}")  # noqa: S608
    hub = fanout.hub(app)
    hub.seq, hub.recent = None, type(hub.recent)()
    async with opened(app.test_client(), after=newest - 2) as socket:
        assert await next_event(socket) == {"type": "reload", "seq": newest}
    async with opened(app.test_client(), after=newest - 1) as socket:  # the run resumes
        assert (await next_event(socket))["seq"] == newest
        await write(app, "DELETE FROM messages WHERE body = 'a'")
        assert (await next_event(socket))["seq"] == newest + 1


async def test_pruning_keeps_the_newest_event_so_numbers_go_on(
    app: Quart, auth: AuthActions
) -> None:
    writer = await member(app, auth)
    await add_messages(app, writer, "old")
    newest = await newest_seq(app)
    hub = fanout.hub(app)
    hub.settings = hub.settings.with_overrides(live_retention_seconds=1)
    await asyncio.sleep(1.1)
    await hub._prune()
    async with db.sessionmaker(app)() as session:
        assert (await session.scalars(select(LiveEvent.seq))).all() == [newest]
    await write(app, "DELETE FROM messages")
    assert await newest_seq(app) == newest + 1


# --- limits ------------------------------------------------------------------------


async def test_caps_per_address_and_per_worker(app: Quart) -> None:
    hub = fanout.hub(app)
    hub.settings = hub.settings.with_overrides(live_max_per_address=2, live_max_sockets=3)
    client = app.test_client()
    async with opened(client), opened(client):
        assert (await refused(client, headers=ORIGIN))[0] == 429  # third from one address
        elsewhere = hub.admit("192.0.2.1")  # a third from another address: room for it
        assert (await refused(client, headers=ORIGIN))[0] == 503  # the worker is full
        hub.leave(elsewhere)
    async with opened(client), opened(client):  # closed sockets give their places back
        pass
    assert not hub.subscribers and not hub.per_address


async def test_a_frame_over_4_kib_closes_with_1009(app: Quart) -> None:
    async with opened(app.test_client()) as socket:
        await socket.send("x" * 4096)  # exactly the limit: ignored (the socket is push-only)
        await socket.send(b"y" * 4096)
        await socket.send("é" * 2049)  # 4098 bytes in UTF-8
        assert await close_code(socket) == 1009


async def test_a_slow_consumer_is_closed_and_its_queue_freed(app: Quart, auth: AuthActions) -> None:
    writer = await member(app, auth)
    hub = fanout.hub(app)
    async with opened(app.test_client()) as socket:
        subscriber = next(iter(hub.subscribers))
        # Five events in one commit reach the queue (four places) in one go, before
        # the socket can send any of them.
        await add_messages(app, writer, *(str(n) for n in range(5)))
        assert await close_code(socket) == 1013
        assert not subscriber.frames
    assert not hub.subscribers


async def test_a_send_that_hangs_is_stopped_within_two_heartbeats(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = fanout.hub(app)
    hub.settings = hub.settings.with_overrides(live_heartbeat_seconds=0.3)
    async with opened(app.test_client()) as socket:
        subscriber = next(iter(hub.subscribers))

        async def never_sent(self: Websocket, data: str | bytes) -> None:
            await asyncio.Event().wait()  # a client that stopped reading, buffers full

        monkeypatch.setattr(Websocket, "send", never_sent)
        assert await close_code(socket) == 1013  # the next heartbeat's send hangs
        assert subscriber.close_code == 1013 and not subscriber.frames
    assert not hub.subscribers


async def test_shutdown_closes_sockets_with_1001_and_refuses_new_ones(app: Quart) -> None:
    client = app.test_client()
    async with opened(client) as socket:
        fanout.hub(app).close_all(fanout.GOING_AWAY)
        assert await close_code(socket) == 1001
    assert (await refused(client, headers=ORIGIN))[0] == 503


async def test_an_event_reaches_every_socket_a_slice_per_turn_of_the_loop(app: Quart) -> None:
    hub = fanout.hub(app)
    subscribers = [fanout.Subscriber(4, "192.0.2.1") for _ in range(fanout.DELIVER_SLICE + 1)]
    for subscriber in subscribers:
        subscriber.seq = 0  # caught up
    hub.subscribers.update(subscribers)
    queued_at_first_turn: list[int] = []
    asyncio.get_running_loop().call_soon(
        lambda: queued_at_first_turn.append(sum(bool(s.frames) for s in subscribers))
    )
    try:
        await hub._deliver([(1, "one"), (2, "two")])
    finally:
        hub.subscribers.difference_update(subscribers)
    assert queued_at_first_turn == [fanout.DELIVER_SLICE]  # the first slice could send
    assert all(list(s.frames) == ["one", "two"] for s in subscribers)


async def test_a_worker_keeps_a_large_young_generation_while_many_sockets_are_open(
    settings_overrides: dict[str, Any],
) -> None:
    # Else every few broadcasts to 10,000 sockets, a full collection stalls the worker
    # (it shows in the live scenario's p99: bench/RESULTS.md); with few sockets, the
    # defaults keep a worker's memory down (the pages' peak RSS, same file).
    before = gc.get_threshold()
    many = collector.MANY_SOCKETS
    async with serving({**settings_overrides, "live_max_per_address": many}) as app:
        hub = fanout.hub(app)
        sockets = [hub.admit("192.0.2.1") for _ in range(many - 1)]
        assert gc.get_threshold() == before
        sockets.append(hub.admit("192.0.2.1"))
        assert gc.get_threshold() == collector.GC_THRESHOLDS != before
        for subscriber in sockets[many // 2 :]:  # half of them close: still many
            hub.leave(subscriber)
        assert gc.get_threshold() == collector.GC_THRESHOLDS
        hub.leave(sockets[0])
        assert gc.get_threshold() == before
        hub.leave(sockets[1])
    assert gc.get_threshold() == before


async def test_heartbeats_on_a_quiet_socket(app: Quart) -> None:
    hub = fanout.hub(app)
    hub.settings = hub.settings.with_overrides(live_heartbeat_seconds=0.3)
    async with opened(app.test_client()) as socket:
        frames = [json.loads(await asyncio.wait_for(socket.receive(), 3)) for _ in range(2)]
    assert [frame["type"] for frame in frames] == ["ping", "ping"]


# --- the pages and the fragment ------------------------------------------------------


async def test_pages_carry_the_live_list_and_script(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    await member(app, auth)
    await client.post("/messages", form={"body": "hi"})
    async with opened(app.test_client()):
        await asyncio.sleep(0.3)  # the hub has read the event log
        html = await page_text(await client.get("/"))
    assert re.search(rf'data-live-after="{await newest_seq(app)}"', html)
    assert re.search(r'<script src="/static/live\.js\?v=[0-9a-f]{16}" defer></script>', html)
    assert 'data-live-older=""' in html
    profile = await page_text(await client.get("/users/alice"))
    assert 'data-live-writer="alice"' in profile and "live.js" in profile
    static = await client.get("/static/live.js")
    assert static.status_code == 200


async def test_a_cursor_page_is_marked_older(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    writer = await member(app, auth)
    size = app.config["SETTINGS"].page_size
    await add_messages(app, writer, *(str(n) for n in range(size + 1)))
    html = await page_text(await client.get("/"))
    older = re.search(r'href="/\?before=([^"]+)"', html)
    assert older
    assert 'data-live-older="yes"' in await page_text(await client.get(f"/?before={older[1]}"))


async def test_the_fragment_is_the_list_item_for_this_viewer(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    await member(app, auth)
    await client.post("/messages", form={"body": "<b>mine</b> & yours"})
    async with db.sessionmaker(app)() as session:
        message_id = await session.scalar(select(Message.id))
    page = await page_text(await client.get("/"))
    url = f"/messages/{message_id}/fragment?next=/users/alice"
    mine = await page_text(await client.get(url))
    assert mine.startswith(f'<li class="message" id="m{message_id}" data-writer="alice">')
    assert "&lt;b&gt;mine&lt;/b&gt; &amp; yours" in mine and "<b>" not in mine
    assert "Edit</a>" in mine and 'name="next" value="/users/alice"' in mine
    item = re.search(r'<li class="message".*?</li>', page, re.S)[0]
    assert re.sub(r'value="[^"]*"', "", item) == re.sub(r'value="[^"]*"', "", mine.strip())

    anonymous = await page_text(await app.test_client().get(url))
    assert "<b>" not in anonymous and "Edit</a>" not in anonymous and "Delete" not in anonymous
    await auth.logout()  # a login that ends stops seeing its controls at once
    assert "Edit</a>" not in await page_text(await client.get(url))
    hostile = await page_text(
        await app.test_client().get(f"/messages/{message_id}/fragment?next=https://evil.example/")
    )
    assert "evil" not in hostile

    await write(app, "DELETE FROM messages")
    assert (await client.get(url)).status_code == 404


@pytest.mark.postgres_only
async def test_readyz_says_whether_the_listener_is_connected(
    app: Quart, client: CSRFClient
) -> None:
    hub = fanout.hub(app)
    for _ in range(100):
        if hub.listening:
            break
        await asyncio.sleep(0.05)
    assert (await (await client.get("/readyz")).get_json())["checks"]["live"] == "ok"
    hub.listening = False
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert (await ready.get_json())["checks"]["live"] == "reconnecting (polling)"


async def test_a_deleted_writer_deletes_events_for_each_message(
    app: Quart, client: CSRFClient, auth: AuthActions
) -> None:
    writer = await member(app, auth)
    await client.post("/messages", form={"body": "one"})
    await client.post("/messages", form={"body": "two"})
    async with opened(app.test_client()) as socket:
        async with db.sessionmaker(app)() as session:
            await session.execute(delete(User).where(User.id == writer))
            await session.commit()
        events = [await next_event(socket) for _ in range(2)]
    assert {e["type"] for e in events} == {"deleted"}


# --- a real server ---------------------------------------------------------------------


def production_env(tmp_path: Path) -> dict[str, str]:
    """A real server's settings, production but on a migrated SQLite file."""
    from servers import migrate

    env = {
        "GUESTBOOK_ENV": "production",
        "GUESTBOOK_ALLOW_SQLITE": "1",
        "GUESTBOOK_SECRET_KEY": "s" * 40,
        "GUESTBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}",
        "GUESTBOOK_MAIL_BACKEND": "null",
    }
    migrate(env)
    return env


@pytest.mark.sqlite_only
async def test_a_real_server_closes_sockets_with_1001_on_sigterm_and_caps_frames(
    tmp_path: Path,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from servers import LiveServer, next_event

    with LiveServer(tmp_path, production_env(tmp_path)) as server:
        url = f"ws://127.0.0.1:{server.port}/live"
        async with connect(url, origin=server.url) as socket:  # hypercorn.toml's frame cap
            await next_event(socket)
            await socket.send("x" * 5000)
            with pytest.raises(ConnectionClosed) as too_big:
                await next_event(socket, 5)
        assert too_big.value.rcvd is not None and too_big.value.rcvd.code == 1009
        async with connect(url, origin=server.url) as socket:
            assert (await next_event(socket))["type"] == "reload"
            await asyncio.to_thread(server.stop)
            with pytest.raises(ConnectionClosed) as closed:
                await next_event(socket, 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert server.returncode == 0
    assert "Traceback" not in server.log()


@pytest.mark.sqlite_only
async def test_a_real_server_leaves_the_browsers_offer_of_compression_unanswered(
    tmp_path: Path,
) -> None:
    """Every browser offers permessage-deflate, as websockets' client does by default;
    each socket that took it would keep zlib state of its own (`live.worker`)."""
    from websockets.asyncio.client import connect

    from servers import LiveServer, next_event

    with LiveServer(tmp_path, production_env(tmp_path)) as server:
        url = f"ws://127.0.0.1:{server.port}/live"
        async with connect(url, origin=server.url, compression="deflate") as socket:
            assert "permessage-deflate" in socket.request.headers["Sec-WebSocket-Extensions"]
            assert "Sec-WebSocket-Extensions" not in socket.response.headers
            assert (await next_event(socket))["type"] == "reload"  # and it delivers
