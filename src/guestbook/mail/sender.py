"""The outbox's sender: the task that delivers due mail, and the backends it sends with.

A mail is a row of the `outbox` table, rendered and added to the same transaction as
its cause (the new user, the reset request): if that rolls back there is no mail, and
once it commits the mail outlives a crash or an SMTP outage. Each serving process runs
one `Sender` task that delivers due rows:

1. claim a row in one short transaction: an UPDATE that succeeds only while the row is
   pending, due and not leased by anyone, so of two processes sharing the database
   exactly one gets it (the lease outlasts any send, and frees rows of a crashed process);
2. send it with no database connection held (SQLite has one per process: a slow SMTP
   server must not make requests wait for it);
3. record the outcome in another short transaction: sent, or a retry after a doubling
   delay, or given up after `mail_max_attempts` (logged as an error).

Delivery is at least once: a process killed between the SMTP server's "accepted" and
step 3 sends that mail again after the lease ends. The Message-ID stays the same, so
mail clients can tell. Before each look at the outbox the sender runs the app's mail
producers: features whose mail is gathered over time (replies) queue what is due.
Backends: `smtp` (aiosmtplib), `console` (logs the mail and
writes it to instance/outbox/*.eml), and `null`, which writes rows but runs no sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Protocol

from quart import Quart, current_app
from sqlalchemy import ColumnElement, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from guestbook import db
from guestbook.config import Settings
from guestbook.metrics import MAIL_FAILED, MAIL_SENT, OUTBOX_OLDEST, OUTBOX_PENDING
from guestbook.models import Outbox, utcnow

log = logging.getLogger("guestbook.mail")
_EXT = "guestbook.mail.sender"

PENDING, SENT, FAILED = "pending", "sent", "failed"
BATCH = 20
RETRY_CAP = timedelta(hours=1)
# How long shutdown waits for a send in flight before cancelling it (the row is
# then released for the next sender, not lost).
SHUTDOWN_GRACE_SECONDS = 3.0
ERROR_MAX = 1000


def wake_after_commit(session: AsyncSession) -> None:
    """The running sender (if any) looks for due mail once `session` commits."""
    sender: Sender | None = current_app.extensions.get(_EXT)
    if sender is not None:
        event.listen(session.sync_session, "after_commit", sender.wake_up, once=True)


# --- backends ---------------------------------------------------------------------


# Queues the outbox rows that are due of a mail gathered over time, in sessions of its own.
Producer = Callable[[async_sessionmaker[AsyncSession]], Awaitable[None]]


class Backend(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SMTPBackend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> None:
        # Loaded with the first mail, not with every worker: 1 MB, for a rare request.
        import aiosmtplib  # noqa: PLC0415

        s = self.settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username or None,
            password=s.smtp_password or None,
            use_tls=s.smtp_ssl,
            start_tls=s.smtp_starttls,  # never "opportunistic": TLS is on or off, as set
            timeout=s.smtp_timeout,
        )


class ConsoleBackend:
    """Development: log the mail and keep it as an .eml file to open or click through."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        path = self.directory / (message["Message-ID"].strip("<>").partition("@")[0] + ".eml")
        # UTF-8 headers, as SMTPUTF8 sends them: the default policy would write a
        # non-ASCII address as an encoded word, which is no address at all.
        await asyncio.to_thread(self._write, path, message.as_bytes(policy=SMTPUTF8))
        text = message.get_body(("plain",))
        log.info(
            "mail to %s: %s (%s)\n%s",
            message["To"],
            message["Subject"],
            path,
            text.get_content() if text else "",
        )

    def _write(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def make_backend(settings: Settings) -> Backend:
    if settings.mail_backend == "smtp":
        return SMTPBackend(settings)
    return ConsoleBackend(settings.instance_path / "outbox")


def build_message(mail: Outbox, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    # The same on every attempt, so a mail sent twice is recognisably one mail.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{mail.created_at:%Y%m%dT%H%M%S}.{mail.id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # no vacation auto-replies to us
    if mail.unsubscribe_url:
        # RFC 8058: the mail program offers "Unsubscribe" and POSTs this body to the
        # link itself, no login and no page in between.
        message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # 8bit keeps the .eml readable (links intact); aiosmtplib re-encodes for a server
    # without 8BITMIME.
    message.set_content(mail.text_body, cte="8bit")
    message.add_alternative(mail.html_body, subtype="html", cte="8bit")
    return message


def retry_delay(attempts: int, first: float) -> timedelta:
    """The wait after the `attempts`-th failure: first, 2×, 4×, ... capped at an hour."""
    return min(timedelta(seconds=first * 2 ** (attempts - 1)), RETRY_CAP)


# --- the sender -------------------------------------------------------------------


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Outbox.status == PENDING,
        Outbox.next_attempt_at <= now,
        or_(Outbox.claimed_until.is_(None), Outbox.claimed_until <= now),
    )


class Sender:
    """Delivers due outbox rows; one per process, run by the app's serving lifecycle.
    Every database step opens its own short session (one AsyncSession per task)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        backend: Backend,
        settings: Settings,
        producers: Sequence[Producer] = (),
    ) -> None:
        self.sessions = sessions
        self.producers = producers
        self.backend = backend
        self.settings = settings
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # aiosmtplib's timeout is per operation; this bounds a whole send, and the lease
        # outlasts it, so a live sender never loses the row it is sending.
        self.send_deadline = 3 * settings.smtp_timeout
        self.lease = timedelta(seconds=self.send_deadline + 60)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake_up(self, *_: object) -> None:
        """Look at the outbox now rather than at the next poll (also a commit hook)."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the sender in a task for the duration of the block. On the way out a send
        in flight may finish (briefly); then the task is cancelled and the row released."""
        task = asyncio.create_task(self.run(), name=f"mail sender {self.name}")
        try:
            yield
        finally:
            self._stopping = True
            self._wake.set()
            done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_GRACE_SECONDS)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                for produce in self.producers:
                    await produce(self.sessions)
                more = await self.send_due() == BATCH
                await self.measure()
            except Exception as exc:  # the database is away: keep the task alive, try again
                log.warning("mail: cannot read the outbox (%s); retrying", exc)
                more = False
            if not more and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.mail_poll_seconds):
                        await self._wake.wait()

    async def send_due(self) -> int:
        """Try one batch of due mail; return how many rows were due."""
        now = utcnow()
        async with self.sessions() as session:
            due = list(
                await session.scalars(
                    select(Outbox.id)
                    .where(*_due(now))
                    .order_by(Outbox.next_attempt_at, Outbox.id)
                    .limit(BATCH)
                )
            )
        for mail_id in due:
            if self._stopping:
                break
            mail = await self.claim(mail_id)
            if mail is None:
                continue  # another sender has it
            try:
                error = await self._deliver(mail)
            except asyncio.CancelledError:
                await self._update_claimed(mail, claimed_by=None, claimed_until=None)
                raise
            await self._record(mail, error)
        return len(due)

    async def measure(self) -> None:
        """The outbox's figures: how many mails wait, and how long the oldest has."""
        async with self.sessions() as session:
            waiting, oldest = (
                await session.execute(
                    select(func.count(), func.min(Outbox.created_at)).where(
                        Outbox.status == PENDING
                    )
                )
            ).one()
        OUTBOX_PENDING.set(waiting)
        OUTBOX_OLDEST.set((utcnow() - oldest).total_seconds() if oldest is not None else 0)

    async def claim(self, mail_id: int) -> Outbox | None:
        """Lease one due row to this sender; None if it is not due or someone else
        holds it. One UPDATE, so two senders can never both succeed."""
        now = utcnow()
        async with self.sessions() as session:
            mail = (
                await session.scalars(
                    update(Outbox)
                    .where(Outbox.id == mail_id, *_due(now))
                    .values(claimed_by=self.name, claimed_until=now + self.lease)
                    .returning(Outbox)
                )
            ).one_or_none()
            await session.commit()
        return mail

    async def _deliver(self, mail: Outbox) -> str | None:
        """Send with no database connection held; the error, or None once accepted."""
        try:
            async with asyncio.timeout(self.send_deadline):
                await self.backend.send(build_message(mail, self.settings.mail_from))
        except Exception as exc:  # every failure is retried: outages, refusals, bad auth
            return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        return None

    async def _record(self, mail: Outbox, error: str | None) -> None:
        attempts = mail.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
        if error is None:
            values.update(status=SENT, sent_at=utcnow())
            MAIL_SENT.inc()
            log.info("mail %s to %s: sent", *_who(mail), extra=_event("mail.sent", mail))
        elif attempts >= self.settings.mail_max_attempts:
            values.update(status=FAILED, last_error=error)
            MAIL_FAILED.labels("gave_up").inc()
            log.error(
                "mail %s to %s: gave up after %d attempts: %s",
                *_who(mail),
                attempts,
                error,
                extra=_event("mail.given_up", mail, attempts=attempts),
            )
        else:
            MAIL_FAILED.labels("retry").inc()
            delay = retry_delay(attempts, self.settings.mail_retry_seconds)
            values.update(next_attempt_at=utcnow() + delay, last_error=error)
            log.warning(
                "mail %s to %s: attempt %d failed (%s); retry in %s",
                *_who(mail),
                attempts,
                error,
                delay,
            )
        await self._update_claimed(mail, **values)

    async def _update_claimed(self, mail: Outbox, **values: Any) -> None:
        """Write to a row only while this sender still holds its claim."""
        async with self.sessions() as session:
            await session.execute(
                update(Outbox)
                .where(Outbox.id == mail.id, Outbox.claimed_by == self.name)
                .values(**values)
            )
            await session.commit()


def _who(mail: Outbox) -> tuple[int, str]:
    return mail.id, mail.recipient


def _event(name: str, mail: Outbox, **more: object) -> dict[str, object]:
    """A log record's fields for the JSON log: the event and the mail's row (never
    its text: a reset mail's body holds the link)."""
    return {"event": name, "mail_id": mail.id, **more}


def init_app(app: Quart, settings: Settings, producers: Sequence[Producer] = ()) -> None:
    if settings.mail_backend == "null":
        return  # mail is still queued (same transactions as in production), never sent

    # while_serving rather than before/after_serving: Quart ends these generators
    # before the after_serving hooks, so the sender stops before db.py disposes of
    # the engine it writes with.
    @app.while_serving
    async def _run_sender() -> AsyncIterator[None]:
        sender = Sender(db.sessionmaker(app), make_backend(settings), settings, producers)
        app.extensions[_EXT] = sender
        async with sender.running():
            yield
        del app.extensions[_EXT]
