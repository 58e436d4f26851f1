"""The live scenario: N open /live sockets on one worker, ours against a bare Quart
broadcast app (`bench/baseline/broadcast.py`) on the same server, side by side.

For each N and each app: the worker's RSS before the sockets and its peak with them
open (per socket), the worker's CPU while they sit idle (a heartbeat included), and
for a series of posts the time from the POST's answer to the event's arrival on every
socket (p50, p99 over all sockets and posts). The client is this process: one raw
asyncio protocol per socket (a full WebSocket library costs the client more than the
server), sharing the machine's cores with the server, so absolute times are partly
the client's; the ratio between the two apps, measured in one run, is what counts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from . import servers
from .scenarios import WRITER, Browser

OPEN_AT_ONCE = 200  # handshakes in flight
ARRIVAL_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 120.0  # the client and the server share the cores
ATTEMPTS = 4


def raise_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (servers started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def events(payload: bytes) -> list[dict]:
    """A /live frame's events: it holds one, or a list of those that waited together."""
    found = json.loads(payload)
    return found if isinstance(found, list) else [found]


class Arrivals:
    """When each socket got each event, by event number."""

    def __init__(self) -> None:
        self.times: dict[int, list[float]] = {}
        self.expected = 0  # sockets open

    def arrived(self, payload: bytes) -> None:
        now = time.monotonic()
        for event in events(payload):
            if event.get("type") == "created":
                self.times.setdefault(event["seq"], []).append(now)

    async def wait_for_next(self, known: set[int], timeout: float) -> int | None:
        """The number of the next event every socket got (None on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for seq, got in self.times.items():
                if seq not in known and len(got) >= self.expected:
                    return seq
            await asyncio.sleep(0.005)
        return None


class Socket(asyncio.Protocol):
    """The smallest WebSocket client that serves: it sends the handshake, then reads
    server frames (unmasked, never fragmented by these servers) and hands each text
    frame to `on_text`."""

    def __init__(self, request: bytes, opened: asyncio.Future, on_text: Callable) -> None:
        self.request = request
        self.opened = opened
        self.on_text = on_text
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if self.opened.done():  # given up on by the client
                self.transport.close()
                return
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(None)
        while len(buffer) >= 2:
            length, offset = buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, offset = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, offset = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < offset + length:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if opcode == 1:
                self.on_text(payload)


async def open_sockets(
    url: str,
    count: int,
    on_text: Callable,
    protocol: Callable[..., Socket] = Socket,
    path: str = "/live",
) -> tuple[list[asyncio.Transport], int]:
    """`count` sockets to `url` + `path`, each a `protocol(request, opened, on_text)`;
    returns the open ones and how many were refused."""
    loop = asyncio.get_running_loop()
    host, port = url.removeprefix("http://").split(":")
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    transports: list[asyncio.Transport] = []
    refused = 0

    async def one() -> None:
        nonlocal refused
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {url}\r\n\r\n"
        ).encode()
        for attempt in range(ATTEMPTS):  # as a page would: a refused connection retries
            async with gate:
                opened = loop.create_future()
                try:
                    transport, _ = await loop.create_connection(
                        lambda opened=opened: protocol(request, opened, on_text), host, int(port)
                    )
                    await asyncio.wait_for(opened, HANDSHAKE_TIMEOUT)
                except (OSError, TimeoutError, ConnectionError):
                    await asyncio.sleep(0.5 * 2**attempt)
                    continue
                transports.append(transport)
                return
        refused += 1

    await asyncio.gather(*(one() for _ in range(count)))
    return transports, refused


@dataclass
class LiveSample:
    side: str
    sockets: int
    opened: int
    refused: int
    rss_before_mb: float
    rss_peak_mb: float
    kb_per_socket: float
    idle_cpu_pct: float
    events: int
    missing: int
    latencies_ms: list[float] = field(repr=False, default_factory=list)  # from the answer
    from_start_ms: list[float] = field(repr=False, default_factory=list)  # from the request

    def as_dict(self) -> dict:
        ordered = sorted(self.latencies_ms)
        return {
            "side": self.side,
            "sockets": self.sockets,
            "opened": self.opened,
            "refused": self.refused,
            "rss_before_mb": self.rss_before_mb,
            "rss_peak_mb": self.rss_peak_mb,
            "kb_per_socket": self.kb_per_socket,
            "idle_cpu_pct": self.idle_cpu_pct,
            "events": self.events,
            "missing": self.missing,
            "p50_ms": percentile(ordered, 0.5),
            "p99_ms": percentile(ordered, 0.99),
            "p99_from_request_ms": percentile(sorted(self.from_start_ms), 0.99),
        }


def percentile(ordered: list[float], share: float) -> float | None:
    """The value at `share` of a sorted list (the median at 0.5), to 0.1; None if empty."""
    if not ordered:
        return None
    if share == 0.5:
        return round(statistics.median(ordered), 1)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def _rss_mb(server: servers.Server, key: str) -> float:
    return round(max(servers._status_kb(pid, key) for pid in server.worker_pids()) * 1024 / 1e6, 1)


async def measure(
    side: str,
    server: servers.Server,
    count: int,
    post: Callable[[httpx.AsyncClient], Awaitable[None]],
    events: int,
    idle_seconds: float,
) -> LiveSample:
    arrivals = Arrivals()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        await post(http)  # warm the path
        await asyncio.sleep(0.5)
        server.wait_idle()
        before = _rss_mb(server, "VmRSS")
        server.reset_peak_rss()
        transports, refused = await open_sockets(server.url, count, arrivals.arrived)
        arrivals.expected = len(transports)
        await asyncio.to_thread(server.wait_idle)  # the handshakes are all done
        await asyncio.sleep(5)  # and their last stragglers
        peak = _rss_mb(server, "VmHWM")
        cpu = server.cpu_seconds()
        await asyncio.sleep(idle_seconds)
        idle = (server.cpu_seconds() - cpu) / idle_seconds * 100
        latencies: list[float] = []
        from_start: list[float] = []
        known: set[int] = set(arrivals.times)
        missing = 0
        for _ in range(events):
            # Two clocks: from the POST's answer (the target's), and from its request: the
            # bare app queues its frames before it answers, ours after its commit.
            sent = time.monotonic()
            await post(http)
            posted = time.monotonic()
            seq = await arrivals.wait_for_next(known, ARRIVAL_TIMEOUT)
            if seq is None:
                missing += 1
                continue
            known.add(seq)
            got = [max(0.0, (at - posted) * 1000) for at in arrivals.times[seq]]
            if os.environ.get("BENCH_LIVE_DEBUG"):
                print(
                    f"    event {seq}: first {min(got):.0f} ms, last {max(got):.0f} ms, "
                    f"answered {(posted - sent) * 1000:.0f} ms after the request"
                )
            latencies += got
            from_start += [(at - sent) * 1000 for at in arrivals.times[seq]]
            await asyncio.sleep(0.2)
        for transport in transports:
            transport.close()
    opened = len(transports)
    return LiveSample(
        side,
        count,
        opened,
        refused,
        before,
        peak,
        round((peak - before) * 1e6 / 1024 / max(opened, 1), 1),
        round(idle, 2),
        events,
        missing,
        latencies,
        from_start,
    )


def ours_post(url: str) -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    writer = Browser(url).log_in(WRITER)
    count = 0

    async def post(http: httpx.AsyncClient) -> None:
        nonlocal count
        count += 1
        response = await http.post(
            "/messages",
            headers={"Cookie": writer.cookie},
            data={"body": f"live event {count}", "csrf_token": writer.csrf},
        )
        if response.status_code != 302:
            raise RuntimeError(f"POST /messages answered {response.status_code}")

    return post


async def bare_post(http: httpx.AsyncClient) -> None:
    (await http.post("/post")).raise_for_status()


LIVE_ENV = {
    "GUESTBOOK_LIVE_MAX_SOCKETS": "20000",
    "GUESTBOOK_LIVE_MAX_PER_ADDRESS": "20000",
}


def event_loop_runner() -> Callable:
    """uvloop's `run` where installed (the client's own loop costs it less), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def run(
    ours: servers.Server,
    bare: servers.Server,
    counts: list[int],
    events: int,
    idle_seconds: float,
) -> list[dict]:
    """Every count on both apps, alternating which goes first."""
    raise_file_limit()
    runner = event_loop_runner()
    post = ours_post(ours.url)
    samples = []
    for index, count in enumerate(counts):
        order = [("ours", ours, post), ("bare", bare, bare_post)]
        for side, server, trigger in order if index % 2 == 0 else order[::-1]:
            sample = runner(measure(side, server, count, trigger, events, idle_seconds))
            row = sample.as_dict()
            print(
                f"  live {count:>6} sockets {side:<5} opened {row['opened']:>6}  "
                f"{row['kb_per_socket']:6.1f} KB/socket  idle {row['idle_cpu_pct']:5.2f}% cpu  "
                f"p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                f"(from the request {row['p99_from_request_ms']} ms)  missing {row['missing']}",
                flush=True,
            )
            samples.append(row)
    return samples


def targets(samples: list[dict]) -> list[dict]:
    """The targets, from one run's side-by-side samples."""
    by = {(s["side"], s["sockets"]): s for s in samples}
    rows = []
    counts = sorted({s["sockets"] for s in samples})
    for count in counts:
        ours, bare = by.get(("ours", count)), by.get(("bare", count))
        if not ours or not bare:
            continue
        memory = ours["kb_per_socket"] / bare["kb_per_socket"] if bare["kb_per_socket"] else None
        rows.append(
            {
                "target": f"{count} sockets held on one worker",
                "value": ours["opened"],
                "met": ours["opened"] == count,
            }
        )
        rows.append(
            {
                "target": f"{count} sockets: memory per socket x bare <= 1.2",
                "value": round(memory, 2) if memory else None,
                "met": memory is not None and memory <= 1.2,
            }
        )
        rows.append(
            {
                "target": f"{count} sockets: idle CPU < 2% of a core",
                "value": ours["idle_cpu_pct"],
                "met": ours["idle_cpu_pct"] < 2,
            }
        )
        if count <= 1000:
            rows.append(
                {
                    "target": f"{count} sockets: p99 <= 250 ms",
                    "value": ours["p99_ms"],
                    "met": ours["p99_ms"] is not None and ours["p99_ms"] <= 250,
                }
            )
        else:
            ratio = (ours["p99_ms"] or 0) / bare["p99_ms"] if bare["p99_ms"] else None
            rows.append(
                {
                    "target": f"{count} sockets: p99 x bare <= 1.2",
                    "value": round(ratio, 2) if ratio is not None else None,
                    "met": ratio is not None and ratio <= 1.2,
                }
            )
    return rows
