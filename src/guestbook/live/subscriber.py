"""One open socket's side of the fan-out: its queue of frames, and how it closes."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque

GOING_AWAY = 1001  # the server is shutting down: reconnect (to another instance)
TOO_BIG = 1009  # a client frame over MAX_FRAME_BYTES
TRY_AGAIN = 1013  # too slow, or the database did not answer: reconnect and resume
MAX_FRAME_BYTES = 4096
BATCH = 16  # events sent as one frame at most, when that many wait (`next_frame`)
STALLED = "a send hung for a heartbeat's time"  # the cancel message of Subscriber.stall


def jitter() -> float:
    """A number in [0, 1) for jitter."""
    return secrets.randbelow(1 << 20) / (1 << 20)


def frame(kind: str, seq: int, message_id: int | None = None, parent: int | None = None) -> str:
    """One JSON text frame: `type`, `seq` and, for a message's event, `id` (and for a
    reply's, `parent`: its message)."""
    body: dict[str, object] = {"type": kind, "seq": seq}
    if message_id is not None:
        body["id"] = message_id
    if parent is not None:
        body["parent"] = parent
    return json.dumps(body, separators=(",", ":"))


class Subscriber:
    """One open socket's side of the fan-out: the frames waiting to be sent (at most
    `limit`, else the socket is too slow and closes), the last event queued, and the
    close code once it must close."""

    __slots__ = (
        "address",
        "beat_at",
        "close_code",
        "frames",
        "limit",
        "ready",
        "sending_since",
        "seq",
        "task",
    )

    def __init__(self, limit: int, address: str, beat_at: float = 0.0) -> None:
        self.limit = limit
        self.address = address
        self.beat_at = beat_at  # when its next heartbeat is due (time.monotonic())
        # The socket's task, and since when it waits for a send to go out (0: it does
        # not): the hub stops a send that hangs (see `stall`).
        self.task: asyncio.Task | None = None
        self.sending_since = 0.0
        self.frames: deque[str] = deque()
        self.ready = asyncio.Event()
        self.close_code: int | None = None
        # None while catching up: nothing is queued, let alone held, meanwhile. The hub
        # keeps every event it read in `recent` before it pushes it, so `start` finds
        # those pushed meanwhile there (or, when too many came, sends a reload).
        self.seq: int | None = None

    def push(self, seq: int, text: str) -> None:
        if self.close_code is not None or self.seq is None:
            return
        if seq <= self.seq:  # already queued (from the log, or by another read)
            return
        if len(self.frames) >= self.limit:
            self.close(TRY_AGAIN)
            return
        self.frames.append(text)
        self.seq = seq
        self.ready.set()

    def push_latest(self, text: str) -> None:
        """A coalesced edit: its number may be one this socket has queued already, and
        it goes out all the same (a socket still catching up fetches the latest anyway)."""
        if self.close_code is not None or self.seq is None:
            return
        if len(self.frames) >= self.limit:
            self.close(TRY_AGAIN)
            return
        self.frames.append(text)
        self.ready.set()

    def start(self, seq: int, backlog: list[tuple[int, str]], first: str | None = None) -> None:
        """Caught up: queue `first` (a reload), then the log's `backlog` after `seq`."""
        self.seq = seq
        if first is not None:
            self.frames.append(first)
            self.ready.set()
        for number, text in backlog:
            self.push(number, text)

    def heartbeat(self, text: str) -> None:
        if self.close_code is None and not self.frames:
            self.frames.append(text)
            self.ready.set()

    def stall(self) -> None:
        """Its client stopped reading and the kernel's buffers are full: close it as
        too slow, and cancel the send it waits on (with the message STALLED, which
        tells this cancel from the server's). Checked at its heartbeats instead of a
        timer per send: with thousands of sockets, a timer per send is garbage that
        the collector must scan."""
        self.close(TRY_AGAIN)
        if self.task is not None:
            self.task.cancel(STALLED)

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
            self.frames.clear()  # a closing socket holds no memory
            self.ready.set()

    async def next_frame(self) -> str | None:
        """The next frame to send; None once the socket must close (`close_code`).
        When several wait, the worker fell behind (a burst of posts, a busy CPU): they
        go out as one frame, a JSON list of up to BATCH events, since each send costs
        the server far more than its bytes; a frame waits for no other."""
        while not self.frames:
            if self.close_code is not None:
                return None
            self.ready.clear()
            await self.ready.wait()
        if len(self.frames) == 1:
            return self.frames.popleft()
        taken = [self.frames.popleft() for _ in range(min(BATCH, len(self.frames)))]
        return f"[{','.join(taken)}]"
