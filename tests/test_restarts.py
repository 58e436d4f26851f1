"""Restarts nobody notices: the deployment sample's two instances behind the sample
nginx site, under steady readers, writers and open /live sockets, each restarted in turn
(SIGTERM, as systemd sends it, then started again). No request fails, no acknowledged
post is lost, and every socket resumes (`?after=`, as live.js does) without missing an
event. The figures are printed (`pytest -s`) and asserted.

Needs what tests/test_deploy.py's live tests need: PostgreSQL, redis-server and nginx.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from guestbook.models import Message
from servers import LiveServer
from support import csrf_from, new_name, signup
from test_deploy import cluster, nginx, redis_url  # noqa: F401 (fixtures)

READERS, WRITERS, SOCKETS = 3, 2, 4
SETTLE_SECONDS = 2.0  # load before, between and after the restarts
DRAIN_SECONDS = 1.0


class Load:
    """What the clients saw: each reader's and writer's answer, each socket's events."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.reads: list[int | str] = []
        self.posts: list[tuple[str, int | str]] = []
        self.heard: list[set[int]] = [set() for _ in range(SOCKETS)]
        self.resumes = [0] * SOCKETS
        self.reloads = [0] * SOCKETS
        self.resent = 0

    async def send(self, client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> int | str:
        """The answer's status, or the error's name. A kept-alive connection that nginx
        closes (its old workers, at a reload) just as a request goes out ends with no
        answer (closed, or reset): nginx never read the request, and a browser sends it
        again on a new connection (Chromium does, for any method, on a reused
        connection that gave no answer), as this client does, once. The database then
        shows whether any post was written twice."""
        for attempt in range(2):
            try:
                return (await client.request(method, url, **kw)).status_code
            except (httpx.RemoteProtocolError, httpx.ReadError) as err:
                if attempt:
                    return type(err).__name__
                self.resent += 1
            except httpx.HTTPError as err:
                return type(err).__name__
        raise AssertionError("unreachable")

    async def read(self, https: str) -> None:
        async with httpx.AsyncClient(verify=False, timeout=30) as client:  # noqa: S501
            while not self.stop.is_set():
                self.reads.append(await self.send(client, "GET", f"{https}/"))

    async def write(self, https: str) -> None:
        async with httpx.AsyncClient(verify=False, timeout=30) as client:  # noqa: S501
            await signup(client, https, new_name())
            token = csrf_from((await client.get(f"{https}/")).text)
            while not self.stop.is_set():
                body = f"steady {uuid.uuid4().hex}"
                form = {"body": body, "csrf_token": token}
                posted = await self.send(client, "POST", f"{https}/messages", data=form)
                self.posts.append((body, posted))
                await asyncio.sleep(0.05)

    async def listen(self, https: str, n: int) -> None:
        """One page's socket: on a close it reconnects from the last number it saw."""
        tls = ssl.create_default_context()
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        base = "wss" + https.removeprefix("https") + "/live"
        after: int | None = None
        while not self.stop.is_set():
            url = base if after is None else f"{base}?after={after}"
            try:
                async with connect(url, origin=https, ssl=tls) as socket:
                    while True:
                        frame = json.loads(await socket.recv())
                        for event in frame if isinstance(frame, list) else [frame]:
                            if event["type"] == "reload":
                                if after is not None:
                                    self.reloads[n] += 1  # could not resume: events missed
                            elif event["type"] == "created":
                                self.heard[n].add(event["id"])
                            after = event.get("seq", after)
            except (ConnectionClosed, OSError):
                if self.stop.is_set():
                    return
                self.resumes[n] += 1
                await asyncio.sleep(0.5)  # live.js: 1 s after a 1001; sooner is harder


async def restart(server: LiveServer, proxy: dict[str, Any]) -> float:
    """The README's rolling restart of one instance: out of nginx's upstream (`down`, a
    graceful reload), SIGTERM and wait for the exit, start again until /readyz answers,
    back into the upstream; the seconds it was out."""
    line = f"server 127.0.0.1:{server.port};"
    site: Path = proxy["site"]
    began = time.monotonic()
    site.write_text(site.read_text().replace(line, line.replace(";", " down;")))
    proxy["reload"]()
    await asyncio.sleep(DRAIN_SECONDS)  # the old nginx workers finish what they send it
    assert await asyncio.to_thread(server.stop) == 0
    server.start()
    await asyncio.to_thread(server.wait_ready)
    site.write_text(site.read_text().replace(line.replace(";", " down;"), line))
    proxy["reload"]()
    return time.monotonic() - began


async def test_restarting_each_instance_in_turn_goes_unnoticed(
    cluster: tuple[LiveServer, LiveServer],  # noqa: F811
    nginx: dict[str, Any],  # noqa: F811
    shared_database: str,
) -> None:
    https, load = nginx["https"], Load()
    tasks = [
        *(asyncio.create_task(load.read(https)) for _ in range(READERS)),
        *(asyncio.create_task(load.write(https)) for _ in range(WRITERS)),
        *(asyncio.create_task(load.listen(https, n)) for n in range(SOCKETS)),
    ]
    await asyncio.sleep(SETTLE_SECONDS)
    down = []
    for server in cluster:
        down.append(await restart(server, nginx))
        await asyncio.sleep(SETTLE_SECONDS)
    load.stop.set()
    await asyncio.sleep(1.5)  # the last posts' events reach the sockets
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    acknowledged = [body for body, status in load.posts if status == 302]
    engine = create_async_engine(shared_database)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Message.body, Message.id).where(Message.body.in_(acknowledged))
                )
            ).all()
            stored = dict(rows)
    finally:
        await engine.dispose()
    print(
        f"\nrestarts: {', '.join(f'{s:.1f} s' for s in down)} down; "
        f"{len(load.reads)} reads, {len(load.posts)} posts, "
        f"{sum(load.resumes)} socket resumes, {sum(load.reloads)} reloads, "
        f"{load.resent} requests sent again on a new connection"
    )
    failed_reads = [status for status in load.reads if status != 200]
    failed_posts = [status for _, status in load.posts if status != 302]
    assert (failed_reads, failed_posts) == ([], [])
    assert len(acknowledged) > 20 and set(stored) == set(acknowledged)  # none lost
    assert len(rows) == len(stored)  # none written twice
    assert min(load.resumes) >= 1, "a socket never met a restart: nothing was tested"
    assert load.reloads == [0] * SOCKETS
    for heard in load.heard:
        assert set(stored.values()) <= heard  # every post's event, on every socket
