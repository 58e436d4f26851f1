"""One account per name and per address: every lookup compares canonical keys (NFKC,
case folding, IDNA domains), alike on SQLite and PostgreSQL; new addresses are ones
our mail can reach; a legacy non-ASCII address goes out with SMTPUTF8 or not at all."""

from __future__ import annotations

from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from quart import Quart
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from guestbook import db
from guestbook.config import Settings
from guestbook.mail import sender
from guestbook.models import Outbox, User, utcnow
from support import PASSWORD, AuthActions, CSRFClient, Seed, field_error, page_text, signed_in_as

KELVIN = "\u212a"  # KELVIN SIGN, NFKC "K"
FULLWIDTH_KATE = "\uff4b\uff41\uff54\uff45"


async def add_legacy_user(app: Quart, username: str, email: str) -> None:
    """A row as an older version let it in (signup now refuses such addresses)."""
    async with db.sessionmaker(app)() as session:
        session.add(User(username=username, email=email, password_hash="x"))
        await session.commit()


async def login_as(client: CSRFClient, ident: str, password: str = PASSWORD) -> int:
    return (
        await client.post("/auth/login", form={"username": ident, "password": password})
    ).status_code


@pytest.mark.parametrize(
    "spelling",
    [
        "KATE",
        f"{KELVIN}ate",
        FULLWIDTH_KATE,
        "kate@EXAMPLE.com",
        f"{KELVIN}ate@example.com",
        f"{FULLWIDTH_KATE}@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",
    ],
)
async def test_every_spelling_of_a_name_or_address_finds_the_one_account(
    client: CSRFClient, seed: Seed, spelling: str
):
    await seed.member("kate")
    assert await login_as(client, spelling) == 302
    assert await signed_in_as(client) == "kate"


@pytest.mark.parametrize(
    ("username", "email", "field"),
    [
        ("KATE", "new@example.com", "username"),
        (f"{KELVIN}ATE", "new@example.com", "username"),  # refused as a name, not a copy
        ("other", f"{KELVIN}ate@example.com", "email"),
        ("other", f"{FULLWIDTH_KATE}@example.com", "email"),
        ("other", "KATE@Example.COM", "email"),
    ],
)
async def test_signup_refuses_another_spelling_of_a_taken_name_or_address(
    app: Quart, auth: AuthActions, seed: Seed, username: str, email: str, field: str
):
    await seed.member("kate")
    response = await auth.signup(username, email=email)
    assert response.status_code == 400
    assert field_error(await page_text(response), field)
    async with db.sessionmaker(app)() as session:
        assert len((await session.scalars(select(User))).all()) == 1


async def test_dotless_and_dotted_i_are_other_letters(client: CSRFClient, seed: Seed):
    await seed.member("ilya")
    for other in ("\u0131lya", "\u0130LYA", "\u0131lya@example.com"):
        assert await login_as(client, other) == 401
    assert (await client.get("/users/\u0131lya")).status_code == 404
    assert await login_as(client, "ILYA") == 302


async def test_sharp_s_and_ss_are_one_name(client: CSRFClient, seed: Seed):
    await seed.member("strasse")
    assert await login_as(client, "STRA\u00dfE") == 302
    assert await login_as(client, "stra\u00dfe@example.com") == 302
    profile = await client.get("/users/stra\u00dfe")
    assert profile.status_code == 200 and "strasse" in await page_text(profile)


async def test_accented_capitals_find_their_lower_case_account(
    app: Quart, client: CSRFClient, auth: AuthActions
):
    """É and é are one address (SQLite's lower() told them apart): a second account
    cannot exist, login by either finds the one, and its reset mail goes to it."""
    await add_legacy_user(app, "emile", "\u00e9mile@example.com")
    with pytest.raises(IntegrityError):
        await add_legacy_user(app, "emile2", "\u00c9mile@example.com")
    response = await client.post("/auth/forgot", form={"email": "\u00c9MILE@example.com"})
    assert response.status_code == 200
    async with db.sessionmaker(app)() as session:
        [reset] = (await session.scalars(select(Outbox))).all()
    assert reset.recipient == "\u00e9mile@example.com"


async def test_a_new_address_must_be_one_mail_can_reach(app: Quart, auth: AuthActions):
    for refused in ("\u00e9mile@example.com", "\u0131lya@example.com", "stra\u00dfe@example.com"):
        response = await auth.signup("someone", email=refused)
        assert response.status_code == 400
        assert "Latin letters" in field_error(await page_text(response), "email")
    # A Unicode domain is stored in the IDNA form mail servers use.
    assert (await auth.signup("hans", email="hans@B\u00fccher.de")).status_code == 302
    async with db.sessionmaker(app)() as session:
        hans = await session.scalar(select(User).where(User.username == "hans"))
    assert hans.email == "hans@xn--bcher-kva.de"


# --- a legacy non-ASCII address: SMTPUTF8, or not sent; never an encoded word -------


class Envelopes:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.mark.parametrize("smtputf8", [True, False])
async def test_a_non_ascii_address_is_sent_with_smtputf8_or_refused(
    app: Quart, tmp_path, smtputf8: bool
):
    from servers import free_port

    handler, port = Envelopes(), free_port()
    server = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    server.start()
    try:
        settings = Settings(
            env="testing", smtp_host="127.0.0.1", smtp_port=port, instance_path=tmp_path
        ).checked()
        row = Outbox(
            id=1,
            recipient="\u00e9mile@example.com",
            subject="Hello",
            text_body="hi",
            html_body="<p>hi</p>",
            created_at=utcnow(),
        )
        send = sender.SMTPBackend(settings).send(sender.build_message(row, settings.mail_from))
        if smtputf8:
            await send
            [(_sender, recipients, content)] = handler.received
            assert recipients == ["\u00e9mile@example.com"]
            assert "To: \u00e9mile@example.com" in content.decode()
        else:
            with pytest.raises(aiosmtplib.SMTPNotSupported):
                await send
            assert handler.received == []  # never an encoded word as an address
    finally:
        server.stop()


async def test_the_console_backend_writes_a_non_ascii_address_as_it_is(tmp_path):
    row = Outbox(
        id=2,
        recipient="\u00e9mile@example.com",
        subject="Hello",
        text_body="hi",
        html_body="<p>hi</p>",
        created_at=utcnow(),
    )
    message = sender.build_message(row, "Guestbook <gb@localhost>")
    await sender.ConsoleBackend(tmp_path).send(message)
    [eml] = tmp_path.glob("*.eml")
    assert "To: \u00e9mile@example.com\n" in eml.read_bytes().decode().replace("\r\n", "\n")
