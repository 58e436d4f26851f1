"""The mixed scenario's own clients, in one asyncio loop: the writers, who post as
members and note when each post is acknowledged, and the /live sockets, which note
when each post's event reaches each of them. `bench/mixed.py` runs them beside wrk's
readers and members (`window`).

One process holds both clocks (`time.monotonic`): a post's fan-out is the time from
its acknowledgement (the redirect, which the app sends after the commit) to its
event's frame on the last socket.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from . import live, load
from .scenarios import Visitor

FRAMES_TIMEOUT = 15.0  # seconds to wait, after the load, for the last posts' frames
REDIRECTS = (302, 303)
_LIVE_AFTER = re.compile(r'data-live-after="(\d*)"')
POST_TEXT = "an ordinary message of ordinary length, as a guest would leave one."


@dataclass
class Frames:
    """What the sockets heard: each post's event by message id, with the arrival time
    on each socket; the frames (each a send the server paid for, heartbeats included);
    reloads (a socket told it missed events); sockets the server closed before the
    client did."""

    arrivals: dict[int, list[float]] = field(default_factory=dict)
    received: int = 0
    reloads: int = 0
    dropped: int = 0


class Listener(live.Socket):
    """A /live socket that records its frames in `frames` and counts its own."""

    def __init__(self, request: bytes, opened: asyncio.Future, frames: Frames) -> None:
        super().__init__(request, opened, self._text)
        self.frames = frames
        self.created = 0  # posts' events heard
        self.closing = False  # closed by the client: not a drop

    def _text(self, payload: bytes) -> None:
        now = time.monotonic()
        self.frames.received += 1
        for event in live.events(payload):
            kind = event.get("type")
            if kind == "created":
                self.created += 1
                self.frames.arrivals.setdefault(event["id"], []).append(now)
            elif kind == "reload":
                self.frames.reloads += 1

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.upgraded and not self.closing:
            self.frames.dropped += 1


@dataclass
class Post:
    writer: int
    body: str
    sent: float
    answered: float = 0.0
    status: int | None = None  # None: no answer (a socket error or a timeout)
    location: str = ""

    @property
    def acknowledged(self) -> bool:
        """Answered as a written post is: a redirect, and not to the login page."""
        return self.status in REDIRECTS and "/auth/login" not in self.location

    @property
    def ms(self) -> float:
        return (self.answered - self.sent) * 1000


async def write(
    url: str, writers: list[Visitor], rate: float, seconds: float, prefix: str
) -> list[Post]:
    """Each writer posts at random moments, a Poisson process of `rate / len(writers)`
    posts a second (so `rate` in all, in bursts as people post), one post at a time:
    a post that comes due while the last is unanswered goes as soon as it is."""
    posts: list[Post] = []
    size = len(writers)
    if not size:
        await asyncio.sleep(seconds)
        return posts
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=load.TIMEOUT_SECONDS) as http:
        deadline = time.monotonic() + seconds

        async def writer(index: int, visitor: Visitor) -> None:
            rng = random.Random(index)  # noqa: S311 (moments, not secrets)
            due = time.monotonic() + rng.expovariate(rate / size)
            count = 0
            while due < deadline:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                count += 1
                post = Post(index, f"{prefix}writer {index}, post {count}: {POST_TEXT}", 0.0)
                posts.append(post)
                post.sent = time.monotonic()
                try:
                    response = await http.post(
                        "/messages",
                        headers={"Cookie": visitor.cookie},
                        data={"body": post.body, "csrf_token": visitor.csrf},
                    )
                    post.status = response.status_code
                    post.location = response.headers.get("location", "")
                except httpx.HTTPError:
                    pass
                post.answered = time.monotonic()
                http.cookies.clear()  # the member's cookie as logged in, every time
                due = max(due + rng.expovariate(rate / size), time.monotonic())

        await asyncio.gather(*(writer(i, v) for i, v in enumerate(writers)))
    return posts


@dataclass
class Window:
    """One measured window: the posts, the sockets and what they heard, the results of
    the blocking jobs (wrk's readers and members), and `snapshot` before and after."""

    posts: list[Post]
    listeners: list[Listener]
    refused: int
    frames: Frames
    results: list
    before: dict[str, float]
    after: dict[str, float]
    opened: object = None  # what `on_open` said once the sockets were open
    frames_wait_s: float = 0.0


async def window(
    url: str,
    sockets: int,
    writers: list[Visitor],
    rate: float,
    seconds: float,
    prefix: str,
    jobs: list[Callable[[], object]],
    snapshot: Callable[[], dict[str, float]],
    on_open: Callable[[], object] = lambda: None,
) -> Window:
    """Open `sockets` sockets to `url`/live (then `on_open()`, in a thread), then for
    `seconds` at once: the writers and each of `jobs` (in threads). After the load,
    wait for every socket to hear every acknowledged post, then close them."""
    frames = Frames()
    transports, refused = [], 0
    if sockets:
        # As the page's script does: from the event its page was rendered at.
        async with httpx.AsyncClient(base_url=url, timeout=load.TIMEOUT_SECONDS) as http:
            page = (await http.get("/")).text
        match = _LIVE_AFTER.search(page)
        path = f"/live?after={match.group(1)}" if match and match.group(1) else "/live"
        transports, refused = await live.open_sockets(url, sockets, frames, Listener, path=path)
    listeners: list[Listener] = [t.get_protocol() for t in transports]  # type: ignore[misc]
    opened = await asyncio.to_thread(on_open)
    before = snapshot()
    *results, posts = await asyncio.gather(
        *(asyncio.to_thread(job) for job in jobs), write(url, writers, rate, seconds, prefix)
    )
    after = snapshot()
    heard = sum(post.acknowledged for post in posts)
    waited = time.monotonic()
    while time.monotonic() - waited < FRAMES_TIMEOUT and any(
        listener.created < heard for listener in listeners if not listener.transport.is_closing()
    ):
        await asyncio.sleep(0.05)
    frames_wait = time.monotonic() - waited
    for listener in listeners:
        listener.closing = True
        listener.transport.close()
    return Window(
        posts, listeners, refused, frames, results, before, after, opened, round(frames_wait, 2)
    )
