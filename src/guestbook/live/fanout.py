"""The fan-out of live events: one task per worker reads new rows of the event log
(`live_events`, filled by triggers on `messages`) and queues each as a JSON frame for
every open `/live` socket of this worker.

It reads when woken, and about once a `live_poll_seconds` while sockets are open:

- PostgreSQL: the triggers NOTIFY `guestbook_live` at commit; a dedicated asyncpg
  connection (outside SQLAlchemy's pool) LISTENs and wakes the task. It reconnects by
  itself with backoff; while it is down the task polls, so nothing waits for it.
- SQLite (one process): this worker's own commits wake the task; the poll catches
  writes by other processes (the CLI, sqlite3).

The log has no gaps and follows commit order (see `models.LiveEvent`), so "everything
after N" is a complete answer: a socket resumes from the last number it saw, and when
the log cannot answer (pruned, too far behind, a number it never had) the socket is
told to reload its list instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import math
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from datetime import timedelta

from quart import Quart, current_app
from sqlalchemy import bindparam, delete, event, func, select
from sqlalchemy.engine import make_url
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

from guestbook import db
from guestbook.config import Settings
from guestbook.db.triggers import LIVE_CHANNEL
from guestbook.live import collector
from guestbook.live.coalescing import EditCoalescer
from guestbook.live.subscriber import GOING_AWAY, Subscriber, frame, jitter
from guestbook.metrics import FANOUT_LAG, LIVE_SOCKETS
from guestbook.models import LiveEvent, utcnow

log = logging.getLogger(__name__)
_EXT = "guestbook.live.fanout"

BATCH = 500  # log rows read at once
DELIVER_SLICE = 1000  # sockets given an event per turn of the loop
# Events that follow one another closely go out together: after a delivery the log is
# read again no sooner than this, and what came meanwhile reaches each socket as one
# frame (`Subscriber.next_frame`). A lone event goes out at once. Each frame costs the
# server a send per socket, whatever its size: at ten posts a second this cut the sends
# by two fifths, for at most this much more delay (bench/RESULTS.md, "Frames together").
DELIVER_GAP = 0.2
PRUNE_EVERY_SECONDS = 60.0
RECONNECT_MAX_SECONDS = 10.0
HEARTBEAT_TICK = 1.0  # seconds between looks for the heartbeats due

AFTER = select(
    LiveEvent.seq, LiveEvent.kind, LiveEvent.message_id, LiveEvent.parent_id, LiveEvent.at
).where(LiveEvent.seq > bindparam("after"))


class Hub:
    """A worker's open sockets and the task that feeds them."""

    def __init__(self, app: Quart, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.subscribers: set[Subscriber] = set()
        self.per_address: Counter[str] = Counter()
        self.seq: int | None = None  # the newest event this worker has read
        # The newest events read (seq, frame), unbroken, up to a socket's queue: what a
        # returning socket catches up from.
        self.recent: deque[tuple[int, str]] = deque()
        self._reading = asyncio.Lock()  # one read of the log at a time
        self.edits = EditCoalescer()
        self.wake = asyncio.Event()
        self.closing = False
        # PostgreSQL's listener: None on SQLite (nothing to connect), else connected or not.
        self.listening: bool | None = None if settings.is_sqlite else False
        self._failing = False
        self._pruned_at = self._beats_checked_at = time.monotonic()
        self._delivered_at = -math.inf  # when events last went out (`DELIVER_GAP`)
        self._backlog = False  # the last read left rows unread
        self.gc_defaults = gc.get_threshold()  # while few sockets are open (`collector.tune`)

    # --- sockets -------------------------------------------------------------------

    def admit(self, address: str) -> Subscriber:
        """Count a new socket in, or refuse it (503 shutting down or full, 429 too many
        from its address). Counted before anything is awaited: the caps cannot be
        overrun by a burst of handshakes."""
        if self.closing:
            raise ServiceUnavailable("The server is restarting.")
        if len(self.subscribers) >= self.settings.live.max_sockets:
            raise ServiceUnavailable("Too many live pages are open; this one stays as it is.")
        address = client_network(address, self.settings.live.ipv6_prefix)
        if self.per_address[address] >= self.settings.live.max_per_address:
            raise TooManyRequests("Too many live pages are open from your address.")
        # Heartbeats are spread over the period, not sent to every socket at once.
        beat_at = time.monotonic() + self.settings.live.heartbeat_seconds * jitter()
        subscriber = Subscriber(self.settings.live.queue_size, address, beat_at)
        self.per_address[address] += 1
        self.subscribers.add(subscriber)
        LIVE_SOCKETS.set(len(self.subscribers))
        collector.tune(len(self.subscribers), self.gc_defaults)
        self.wake.set()  # start reading if this is the first socket
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)
            LIVE_SOCKETS.set(len(self.subscribers))
            collector.tune(len(self.subscribers), self.gc_defaults)
            self.per_address[subscriber.address] -= 1
            if not self.per_address[subscriber.address]:
                del self.per_address[subscriber.address]

    async def catch_up(self, subscriber: Subscriber, after: int | None) -> None:
        """Queue what `subscriber` missed after event `after` (None: it knows no
        number), or a reload when that cannot be told. Answered from the recent events
        kept in memory: a burst of reconnections costs the database at most one read."""
        if self._behind(after):
            async with self._reading:
                # After a quiet spell (no socket open, nothing read) the page's number
                # (`live_after`, from the database) can be far ahead: read up to it.
                while self._behind(after):
                    read_up_to = self.seq
                    await self._read_locked()
                    if self.seq == read_up_to:
                        break
        seq = self.seq or 0
        low = self.recent[0][0] if self.recent else seq + 1
        if after is None or after > seq or after < low - 1 or seq - after > subscriber.limit:
            subscriber.start(seq, [], first=frame("reload", seq))
        else:
            subscriber.start(after, [item for item in self.recent if item[0] > after])

    def _behind(self, after: int | None) -> bool:
        return self.seq is None or (after is not None and after > self.seq)

    def close_all(self, code: int) -> None:
        """Shutting down: every socket closes with `code`, and new ones are refused."""
        self.closing = True
        for subscriber in self.subscribers:
            subscriber.close(code)

    # --- the task --------------------------------------------------------------------

    def woken(self, *_: object) -> None:
        self.wake.set()

    async def run(self) -> None:
        while True:
            settings = self.settings
            beat = settings.live.heartbeat_seconds
            polling = self.listening is not True
            # Woken at least every HEARTBEAT_TICK: the heartbeats due are sent then.
            wait = min(settings.live.poll_seconds if polling else beat, HEARTBEAT_TICK, beat)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self.wake.wait()
            if self.wake.is_set() and not self._backlog:
                await self._after_gap()
            self._backlog = False
            self.wake.clear()
            now = time.monotonic()
            if now >= self._beats_checked_at + min(HEARTBEAT_TICK, beat):
                # Once a tick, not at every wake-up: with thousands of sockets and a
                # commit every few milliseconds, each walk would cost the same again.
                self._beats_checked_at = now
                self._beat(now, beat)
            self._send_held_edits(now)
            try:
                if self.subscribers and self.seq is not None:
                    async with self._reading:
                        await self._read_locked()
                if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    self._pruned_at = now
                    await self._prune()
            except Exception as exc:  # the database is away: say so once, keep trying
                if not self._failing:
                    log.warning("live events: cannot read the event log: %s", exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("live events: reading the event log again")
                self._failing = False

    async def _after_gap(self) -> None:
        """Woken by a write: wait out DELIVER_GAP since the last delivery, so the
        events written meanwhile are read, and sent, with this one."""
        gap = self._delivered_at + DELIVER_GAP - time.monotonic()
        if gap > 0:
            await asyncio.sleep(gap)

    def _beat(self, now: float, beat: float) -> None:
        """A heartbeat for each socket whose one is due; a send hung that long is stalled."""
        ping = frame("ping", self.seq or 0)
        for subscriber in self.subscribers:
            if subscriber.beat_at <= now:
                subscriber.beat_at = now + beat
                subscriber.heartbeat(ping)
                if subscriber.sending_since and now - subscriber.sending_since > beat:
                    subscriber.stall()

    async def _read_locked(self) -> None:
        """Read new events, keep them in `recent` and queue them for every socket; the
        first time, load the newest events instead (where the log starts for us)."""
        keep = self.settings.live.queue_size
        async with db.sessionmaker(self.app)() as session:
            if self.seq is None:
                newest = AFTER.order_by(LiveEvent.seq.desc()).limit(keep)
                rows = (await session.execute(newest, {"after": 0})).all()
                # Only an unbroken run counts (pruning may have left a hole).
                run = [row for n, row in enumerate(rows) if row.seq == rows[0].seq - n]
                self.recent = deque(
                    (
                        (r.seq, frame(r.kind, r.seq, r.message_id, r.parent_id))
                        for r in reversed(run)
                    ),
                    maxlen=keep,
                )
                self.seq = rows[0].seq if rows else 0
                return
            statement = AFTER.order_by(LiveEvent.seq).limit(BATCH)
            rows = (await session.execute(statement, {"after": self.seq})).all()
        if not rows:
            return
        now = self._delivered_at = time.monotonic()
        read = [(row.seq, frame(row.kind, row.seq, row.message_id, row.parent_id)) for row in rows]
        # Known before they are queued: a socket that arrives meanwhile catches up on them
        # (every one, a held edit too: a socket that resumes needs it).
        self.recent.extend(read)
        self.seq = rows[-1].seq
        if len(rows) == BATCH:  # more waiting: read on at once, not after the gap
            self._backlog = True
            self.wake.set()
        # The first slice of sockets gets these frames in this turn of the loop, so
        # the lag is measured now: from each event's row (its commit) to its frame.
        wall = utcnow()
        for row in rows:
            FANOUT_LAG.observe(max((wall - row.at).total_seconds(), 0.0))
        await self._deliver(
            [
                item
                for item, row in zip(read, rows, strict=True)
                if self.edits.passes(row.kind, row.message_id, now, row.parent_id)
            ]
        )

    def _send_held_edits(self, now: float) -> None:
        """The last edit of each message whose burst was held, as one frame now, under
        the newest number read (every event up to it has gone out, or was an edit in
        between, which this one stands for)."""
        for message_id, parent in self.edits.due(now):
            text = frame("edited", self.seq or 0, message_id, parent)
            for subscriber in self.subscribers:
                subscriber.push_latest(text)

    async def _deliver(self, items: list[tuple[int, str]]) -> None:
        """Queue `items` for every socket, a slice of sockets per turn of the loop.
        uvloop writes a turn's frames when the turn ends: in one go, the first frame
        would leave only once all 10,000 are sent; in slices, the first clients read
        theirs while the rest are still being sent (on another core)."""
        subscribers = list(self.subscribers)
        for start in range(0, len(subscribers), DELIVER_SLICE):
            if start:
                await asyncio.sleep(0)  # this slice's sockets send; their frames leave
            for subscriber in subscribers[start : start + DELIVER_SLICE]:
                for item in items:
                    subscriber.push(*item)

    async def _prune(self) -> None:
        """Drop events older than the retention, but always the newest: numbers go on
        from it."""
        cutoff = utcnow() - timedelta(seconds=self.settings.live.retention_seconds)
        newest = select(func.max(LiveEvent.seq)).scalar_subquery()
        async with db.sessionmaker(self.app)() as session:
            await session.execute(
                delete(LiveEvent).where(LiveEvent.at < cutoff, LiveEvent.seq < newest)
            )
            await session.commit()

    # --- PostgreSQL's LISTEN -------------------------------------------------------

    async def listen(self) -> None:
        """Keep a LISTEN connection open, reconnecting with backoff; each (re)connection
        wakes the task, which reads what came meanwhile."""
        import asyncpg

        url = make_url(self.settings.database_url).set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        delay = 0.5
        while True:
            try:
                connection = await asyncpg.connect(dsn, timeout=self.settings.db.connect_timeout)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                if delay == 0.5:
                    log.warning("live events: LISTEN connection failed: %s", exc)
                await asyncio.sleep(delay * (0.5 + jitter() / 2))  # jitter
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            try:
                await self._listen_on(connection)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("live events: LISTEN connection lost: %s", exc)
            finally:
                self.listening = False
                connection.terminate()
            delay = 0.5

    async def _listen_on(self, connection) -> None:  # noqa: ANN001
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(LIVE_CHANNEL, self.woken)
        self.listening = True
        self.wake.set()
        heartbeat = self.settings.live.heartbeat_seconds
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(heartbeat):
                    await lost.wait()
            if not lost.is_set():  # a network that went quiet is found out here
                await connection.fetchval("SELECT 1", timeout=heartbeat)
        raise ConnectionResetError("closed by the server")


def client_network(address: str, ipv6_prefix: int) -> str:
    """What the per-address cap counts: an IPv4 address as it is, an IPv6 one by its
    network of `ipv6_prefix` bits (anything else, a Unix socket's name say, as it is)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/{ipv6_prefix}", strict=False))


def hub(app: Quart | None = None) -> Hub | None:
    return (app or current_app._get_current_object()).extensions.get(_EXT)


# The hubs serving in this process: a signal is the process's, not an app's.
_SERVING: set[Hub] = set()


def close_all_sockets(code: int) -> None:
    """Every open socket of this process closes with `code` (a graceful shutdown)."""
    for serving in _SERVING:
        serving.close_all(code)


async def readiness() -> str | None:
    """For `/readyz`: PostgreSQL's LISTEN connection (None on SQLite, which has none).
    Live updates still flow while it reconnects: the event log is polled meanwhile."""
    the_hub = hub()
    if the_hub is None or the_hub.listening is None:
        return None
    return "ok" if the_hub.listening else "reconnecting (polling)"


def init_app(app: Quart, settings: Settings) -> None:
    @app.while_serving
    async def _run_fanout() -> AsyncIterator[None]:
        the_hub = app.extensions[_EXT] = Hub(app, settings)
        _SERVING.add(the_hub)
        tasks = [asyncio.create_task(the_hub.run())]
        engine = db.engine(app).sync_engine
        if settings.is_sqlite:
            # This worker's own commits: read at once, not at the next poll.
            event.listen(engine, "commit", the_hub.woken)
        else:
            tasks.append(asyncio.create_task(the_hub.listen()))
        try:
            yield
        finally:
            the_hub.close_all(GOING_AWAY)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if settings.is_sqlite:
                event.remove(engine, "commit", the_hub.woken)
            del app.extensions[_EXT]
            _SERVING.discard(the_hub)
            gc.set_threshold(*the_hub.gc_defaults)
