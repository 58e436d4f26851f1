"""One WebSocket cannot grow a worker's memory: a client streaming a frame declared as
1 GiB (or many sockets each holding a large partial frame) makes the worker hold no
more than its cap of a message, and the connection is dropped at that cap. Against a
real server (`guestbook serve` with the sample hypercorn.toml), over a raw socket,
reading the worker's resident memory from /proc."""

from __future__ import annotations

import base64
import os
import socket
import struct
from pathlib import Path

import httpx

from servers import LiveServer, migrate

CHUNK = b"\0" * 65536
STREAMED = 24 * 2**20  # per socket, unless the server drops it first
MiB = 2**20


def worker_pid(server: LiveServer) -> int:
    """The one worker hypercorn spawned (beside multiprocessing's resource tracker)."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    [worker] = [
        pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    return int(worker)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def handshake(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.sendall(
        (
            f"GET /live HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    return conn


def stream_a_huge_frame(conn: socket.socket) -> int:
    """Declare a 1 GiB binary frame and send its payload until the server hangs up;
    the bytes sent."""
    conn.sendall(struct.pack("!BBQ", 0x82, 0x80 | 127, 2**30) + os.urandom(4))
    sent = 0
    try:
        while sent < STREAMED:
            conn.sendall(CHUNK)
            sent += len(CHUNK)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    return sent


def test_a_huge_frame_is_dropped_at_the_cap_and_the_worker_holds_nothing_of_it(
    tmp_path: Path,
) -> None:
    env = {"GUESTBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ws.sqlite3'}"}
    migrate(env)
    with LiveServer(tmp_path, env) as server:
        pid = worker_pid(server)
        for _ in range(3):  # warm: a socket opened and closed, pages served
            handshake(server.port).close()
            assert httpx.get(server.url + "/").status_code == 200
        before = rss(pid)
        sent = []
        for _ in range(6):
            conn = handshake(server.port)
            sent.append(stream_a_huge_frame(conn))
            conn.close()
        assert httpx.get(server.url + "/healthz").status_code == 200
        grown = rss(pid) - before
    assert all(amount < STREAMED for amount in sent), sent  # each dropped, not read on
    assert grown < 2 * MiB, f"the worker grew {grown / MiB:.1f} MiB"
