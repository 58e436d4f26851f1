"""Mail: the outbox, its sender, the welcome mail and password reset by mail.

Delivery is checked against a real SMTP server (the `smtp_server` fixture, aiosmtpd
on a loopback port). Apps here start on a database that already has its tables, so
the sender's first look at the outbox (at startup) finds one.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from quart import Quart
from sqlalchemy import select, update

from guestbook import create_app, db
from guestbook.config import ConfigError, Settings
from guestbook.mail import sender
from guestbook.models import Base, Outbox, utcnow
from support import (
    MAIL_SITE,
    AuthActions,
    CSRFClient,
    SMTPTestServer,
    page_text,
    serving,
    smtp_settings,
)

T = TypeVar("T")
BASE_URL = MAIL_SITE
RESET_LINK = re.compile(re.escape(BASE_URL) + r"(/auth/reset/[^\s\"<]+)")


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], smtp_server: SMTPTestServer):
    return {**settings_overrides, **smtp_settings(smtp_server), "mail_retry_seconds": 0.2}


async def fresh_schema(overrides: dict[str, Any]) -> None:
    engine = db.make_engine(create_app(overrides).config["SETTINGS"])
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


@pytest.fixture
async def app(settings_overrides: dict[str, Any]) -> AsyncIterator[Quart]:
    await fresh_schema(settings_overrides)
    async with serving(settings_overrides) as app:
        yield app


async def outbox(app: Quart) -> list[Outbox]:
    async with db.sessionmaker(app)() as session:
        return list(await session.scalars(select(Outbox).order_by(Outbox.id)))


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 15) -> T:
    """Poll `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check.__doc__ or check}")
        await asyncio.sleep(0.05)
    return result


def all_sent(app: Quart, count: int) -> Callable[[], Awaitable[list[Outbox]]]:
    async def check() -> list[Outbox]:
        """the outbox holds `count` rows, all sent"""
        rows = await outbox(app)
        return rows if len(rows) == count and all(r.status == "sent" for r in rows) else []

    return check


def text_part(message: email.message.EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_part(message: email.message.EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def reset_path(message: email.message.EmailMessage) -> str:
    match = RESET_LINK.search(text_part(message))
    assert match, text_part(message)
    return match.group(1)


def main_content(html: str) -> str:
    """The page without its header (whose countdown moves on between two requests)."""
    match = re.search(r"<main id=\"main\">.*</main>", html, re.S)
    assert match
    return match.group(0)


async def test_signup_delivers_one_welcome_mail(
    app: Quart, auth: AuthActions, smtp_server: SMTPTestServer
) -> None:
    assert (await auth.signup("alice")).status_code == 302

    [message] = await smtp_server.wait_async(1)
    assert smtp_server.envelopes == [("guestbook@localhost", ["alice@example.com"])]
    assert message["To"] == "alice@example.com"
    assert message["From"] == "Guestbook <guestbook@localhost>"
    assert "alice" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    text, html = text_part(message), html_part(message)
    for part in (text, html):
        assert "Welcome, alice!" in part
        assert "환영합니다" not in part  # one greeting, in the recipient's language
    assert f"{BASE_URL}/users/alice" in text
    assert f'<a href="{BASE_URL}/users/alice">' in html

    [row] = await eventually(all_sent(app, 1))
    assert row.attempts == 1 and row.sent_at is not None and row.claimed_by is None
    assert len(smtp_server.messages) == 1


async def test_a_commit_that_queues_mail_wakes_the_sender(
    settings_overrides: dict[str, Any], smtp_server: SMTPTestServer
) -> None:
    # The sender polls once at startup and then only every ten minutes: a mail that
    # arrives at all arrived because the signup's commit woke it.
    overrides = {**settings_overrides, "mail_poll_seconds": 600}
    await fresh_schema(overrides)
    async with serving(overrides) as app:
        await AuthActions(app.test_client()).signup("alice")
        [message] = await smtp_server.wait_async(1)
    assert message["To"] == "alice@example.com"


async def test_reset_link_from_the_mail_works_once_and_only_once(
    app: Quart, client: CSRFClient, auth: AuthActions, smtp_server: SMTPTestServer
) -> None:
    await auth.signup("alice", password="old password")
    elsewhere = AuthActions(app.test_client())
    assert (await elsewhere.login("alice", "old password")).status_code == 302
    await auth.logout()

    response = await client.post("/auth/forgot", form={"email": "ALICE@example.com"})
    assert response.status_code == 200
    reset_mail = (await smtp_server.wait_async(2))[1]
    assert reset_mail["To"] == "alice@example.com"
    path = reset_path(reset_mail)
    assert f'href="{BASE_URL}{path}"' in html_part(reset_mail)

    response = await client.get(path)
    assert response.status_code == 200
    assert "Choose a new password" in await page_text(response)
    mismatch = {"password": "new password", "password_confirm": "other password"}
    assert (await client.post(path, form=mismatch)).status_code == 400

    new = {"password": "new password", "password_confirm": "new password"}
    response = await client.post(path, form=new)
    assert response.status_code == 302 and response.location == "/"
    page = await page_text(await client.get("/"))
    assert "Your password is reset and you are logged in" in page
    assert "Welcome, alice!" in page
    # Every other login of the account ended with the old password.
    assert "Welcome, alice!" not in await page_text(await elsewhere.client.get("/"))
    # As a browser does, the login form is shown before it is sent: its token is bound
    # to no login now (the main page's popup form carries no token to renew it).
    await elsewhere.client.get("/auth/login")
    assert (await elsewhere.login("alice", "old password")).status_code == 401
    assert (await elsewhere.login("alice", "new password")).status_code == 302

    # The same link again: refused, with a way to ask for a new one.
    for response in (
        await client.get(path),
        await client.post(path, form={"password": "third one!", "password_confirm": "third one!"}),
    ):
        assert response.status_code == 400
        page = await page_text(response)
        assert "This link no longer works" in page
        assert 'href="/auth/forgot"' in page
    assert (await elsewhere.login("alice", "third one!")).status_code == 401


async def test_expired_and_forged_reset_links_are_refused(
    app: Quart,
    client: CSRFClient,
    auth: AuthActions,
    smtp_server: SMTPTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await auth.signup("alice")
    await auth.logout()
    two_hours_ago = int(time.time()) - 2 * 3600
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: two_hours_ago)
        await client.post("/auth/forgot", form={"email": "alice@example.com"})
        expired = reset_path((await smtp_server.wait_async(2))[1])
    await client.post("/auth/forgot", form={"email": "alice@example.com"})
    valid = reset_path((await smtp_server.wait_async(3))[2])

    token = valid.rsplit("/", 1)[1]
    payload, _, signature = token.rpartition(".")
    tampered_signature = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    other_key = URLSafeTimedSerializer("not the app's key", salt="guestbook password reset")
    for bad in (
        expired,
        f"/auth/reset/{tampered_signature}",
        f"/auth/reset/{other_key.dumps([1, 'anything'])}",
        "/auth/reset/not-a-token",
    ):
        for response in (
            await client.get(bad),
            await client.post(bad, form={"password": "hijacked!", "password_confirm": "hijacked!"}),
        ):
            assert response.status_code == 400, bad
            page = await page_text(response)
            assert "This link no longer works" in page
            assert 'href="/auth/forgot"' in page
    assert (await auth.login("alice", "hijacked!")).status_code == 401
    # The genuine link was not spoiled by any of that.
    assert (await client.get(valid)).status_code == 200


async def test_forgot_answers_an_unknown_address_like_a_known_one_and_sends_nothing(
    app: Quart, client: CSRFClient, auth: AuthActions, smtp_server: SMTPTestServer
) -> None:
    await auth.signup("alice")
    await auth.logout()
    await client.get("/auth/forgot")  # opens the form, as a visitor would, and gets a session

    unknown = await client.post("/auth/forgot", form={"email": "nobody@example.com"})
    known = await client.post("/auth/forgot", form={"email": "alice@example.com"})
    assert unknown.status_code == known.status_code == 200
    assert set(unknown.headers.keys()) == set(known.headers.keys())
    unknown_page = main_content(await page_text(unknown)).replace("nobody@example.com", "ADDR")
    known_page = main_content(await page_text(known)).replace("alice@example.com", "ADDR")
    assert unknown_page == known_page
    assert "If an account uses ADDR" in known_page

    rows = await eventually(all_sent(app, 2))  # the welcome mail and one reset mail
    assert [row.recipient for row in rows] == ["alice@example.com"] * 2
    assert [m["To"] for m in smtp_server.messages] == ["alice@example.com"] * 2


async def test_forgot_checks_the_address_and_is_rate_limited(
    settings_overrides: dict[str, Any], smtp_server: SMTPTestServer
) -> None:
    overrides = {**settings_overrides, "forgot_limit": 2}
    await fresh_schema(overrides)
    async with serving(overrides) as app:
        client = app.test_client()
        page = await page_text(await client.get("/auth/login"))
        assert 'href="/auth/forgot"' in page and "Forgot your password?" in page
        assert 'name="email"' in await page_text(await client.get("/auth/forgot"))

        response = await client.post("/auth/forgot", form={"email": "not an address"})
        assert response.status_code == 400
        assert "Enter a valid email address" in await page_text(response)
        for _ in range(2):
            response = await client.post("/auth/forgot", form={"email": "a@example.com"})
            assert response.status_code == 200
        response = await client.post("/auth/forgot", form={"email": "a@example.com"})
        assert response.status_code == 429
        assert await outbox(app) == []


async def test_smtp_down_keeps_the_mail_until_the_server_is_back(
    app: Quart, client: CSRFClient, auth: AuthActions, smtp_server: SMTPTestServer
) -> None:
    smtp_server.stop()

    response = await auth.signup("alice")
    assert response.status_code == 302
    assert "Welcome, alice!" in await page_text(await client.get("/"))

    async def failed_once() -> list[Outbox]:
        """the welcome mail has failed at least once"""
        rows = await outbox(app)
        return rows if rows and rows[0].attempts >= 1 else []

    [row] = await eventually(failed_once)
    assert row.status == "pending"
    assert "connect" in row.last_error.lower()
    assert row.next_attempt_at > row.created_at
    assert smtp_server.messages == []

    smtp_server.start()
    [message] = await smtp_server.wait_async(1)
    assert message["To"] == "alice@example.com"
    [row] = await eventually(all_sent(app, 1))
    assert row.attempts >= 2
    assert len(smtp_server.messages) == 1


async def test_a_mail_is_given_up_after_the_configured_attempts_and_logged(
    settings_overrides: dict[str, Any],
    smtp_server: SMTPTestServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp_server.stop()
    overrides = {**settings_overrides, "mail_max_attempts": 2}
    await fresh_schema(overrides)
    async with serving(overrides) as app:
        await AuthActions(app.test_client()).signup("alice")

        async def given_up() -> list[Outbox]:
            """the welcome mail is marked failed"""
            rows = await outbox(app)
            return rows if rows and rows[0].status == "failed" else []

        [row] = await eventually(given_up)
    assert row.attempts == 2
    assert row.last_error
    assert any(
        r.levelno == logging.ERROR and "gave up after 2 attempts" in r.getMessage()
        for r in caplog.records
    )


def test_retries_back_off_doubling_up_to_an_hour() -> None:
    delays = [sender.retry_delay(attempts, first=60) for attempts in range(1, 9)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]


async def test_two_senders_on_one_database_deliver_each_mail_once(
    settings_overrides: dict[str, Any], smtp_server: SMTPTestServer
) -> None:
    count = 30
    recipients = [f"reader{i}@example.com" for i in range(count)]
    await fresh_schema(settings_overrides)
    engine = db.make_engine(create_app(settings_overrides).config["SETTINGS"])
    try:
        async with engine.begin() as conn:
            # Due a moment from now, so both senders are up and race for every row.
            due = utcnow() + timedelta(seconds=1)
            await conn.execute(
                Outbox.__table__.insert(),
                [
                    {
                        "recipient": to,
                        "subject": "hello",
                        "text_body": "hello",
                        "html_body": "<p>hello</p>",
                        "next_attempt_at": due,
                    }
                    for to in recipients
                ],
            )
    finally:
        await engine.dispose()

    async with serving(settings_overrides) as first, serving(settings_overrides):
        await smtp_server.wait_async(count, timeout=60)
        await eventually(all_sent(first, count), timeout=60)
    # Both apps have stopped: no send is in flight any more.
    assert len(smtp_server.messages) == count
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(recipients)
    assert len({m["Message-ID"] for m in smtp_server.messages}) == count


async def test_a_claim_is_exclusive_until_its_lease_ends(
    settings_overrides: dict[str, Any],
) -> None:
    overrides = {**settings_overrides, "mail_backend": "null"}  # no sender of the app's own
    await fresh_schema(overrides)
    async with serving(overrides) as app:
        sessions = db.sessionmaker(app)
        async with sessions() as session:
            row = Outbox(recipient="a@example.com", subject="s", text_body="t", html_body="h")
            session.add(row)
            await session.commit()
        settings = app.config["SETTINGS"]
        one, two = (sender.Sender(sessions, sender.SMTPBackend(settings), settings) for _ in "12")

        claims = await asyncio.gather(one.claim(row.id), two.claim(row.id))
        winners = [c for c in claims if c is not None]
        assert len(winners) == 1
        assert winners[0].claimed_by in (one.name, two.name)
        assert await one.claim(row.id) is None and await two.claim(row.id) is None

        # A sender that died holding the row: once its lease ends, another takes over.
        async with sessions() as session:
            past = utcnow() - timedelta(seconds=1)
            await session.execute(update(Outbox).values(claimed_until=past))
            await session.commit()
        taken = await two.claim(row.id)
        assert taken is not None and taken.claimed_by == two.name


async def test_shutdown_releases_a_mail_stuck_in_sending(
    settings_overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never greet: the send hangs until cancelled
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(sender, "SHUTDOWN_GRACE_SECONDS", 0.2)
    overrides = {**settings_overrides, "smtp_port": port, "smtp_timeout": 60}
    await fresh_schema(overrides)
    try:
        async with serving(overrides) as app:
            await AuthActions(app.test_client()).signup("alice")

            async def claimed() -> list[Outbox]:
                """the welcome mail is claimed by the sender"""
                rows = await outbox(app)
                return rows if rows and rows[0].claimed_by else []

            await eventually(claimed)
    finally:
        server.close()

    engine = db.make_engine(create_app(overrides).config["SETTINGS"])
    try:
        async with engine.connect() as conn:
            [row] = (await conn.execute(select(Outbox))).all()
    finally:
        await engine.dispose()
    assert (row.status, row.attempts, row.claimed_by, row.claimed_until) == (
        "pending",
        0,
        None,
        None,
    )


async def test_console_backend_writes_a_readable_eml_with_a_working_link(
    settings_overrides: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="guestbook.mail")
    overrides = {**settings_overrides, "mail_backend": "console"}
    outbox_dir = overrides["instance_path"] / "outbox"
    await fresh_schema(overrides)
    async with serving(overrides) as app:
        client = app.test_client()
        client.set_cookie("localhost", "lang", "ko")  # Korean mail: UTF-8 text in the file
        await AuthActions(client).signup("alice")
        await client.post("/auth/forgot", form={"email": "alice@example.com"})

        async def two_files() -> list[Any]:
            """two .eml files were written"""
            files = sorted(outbox_dir.glob("*.eml"))
            return files if len(files) == 2 else []

        welcome_file, reset_file = await eventually(two_files)
        raw = welcome_file.read_bytes()
        # Readable as it is: no base64 or quoted-printable between you and the text.
        assert "alice님 환영합니다!".encode() in raw
        assert f"{BASE_URL}/users/alice".encode() in raw
        welcome = email.message_from_bytes(raw, policy=email.policy.default)
        assert welcome["To"] == "alice@example.com"
        assert "alice님 환영합니다!" in text_part(welcome)
        assert "alice님 환영합니다!" in html_part(welcome)

        # The developer's way to reset a password: the link in the file works.
        link = RESET_LINK.search(reset_file.read_text())
        assert link, reset_file.read_text()
        assert (await client.get(link.group(1))).status_code == 200
    assert any("mail to alice@example.com" in r.getMessage() for r in caplog.records)


async def test_null_backend_queues_mail_but_sends_none(
    settings_overrides: dict[str, Any], smtp_server: SMTPTestServer
) -> None:
    overrides = {**settings_overrides, "mail_backend": "null"}
    await fresh_schema(overrides)
    async with serving(overrides) as app:
        await AuthActions(app.test_client()).signup("alice")
        [row] = await outbox(app)
    assert (row.recipient, row.status, row.attempts) == ("alice@example.com", "pending", 0)
    assert "Welcome, alice!" in row.text_body and "Welcome, alice!" in row.html_body
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    "bad", [{"mail_poll_seconds": 0}, {"mail_retry_seconds": -1}, {"mail_max_attempts": 0}]
)
def test_mail_timings_that_would_spin_or_never_send_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="GUESTBOOK_MAIL_"):
        Settings(env="testing").with_overrides(**bad)
