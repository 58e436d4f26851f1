"""The models: the User <-> Message relationship both ways, cascades, uniqueness."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from quart import Quart
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from guestbook import db
from guestbook.models import LoginSession, Message, User


def _user(name: str, email: str | None = None) -> User:
    return User(username=name, email=email or f"{name}@example.com", password_hash="x")


async def test_relationship_both_ways(app: Quart) -> None:
    async with db.sessionmaker(app)() as session:
        alice = _user("alice")
        session.add(alice)
        await session.flush()
        # Flask's `user.messages.append(...)`: on a write-only collection, `add`.
        alice.messages.add(Message(body="first"))
        alice.messages.add(Message(body="second"))
        await session.commit()

    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(select(User).where(User.username == "alice"))
        bodies = (await session.scalars(alice.messages.select().order_by(Message.id))).all()
        assert [m.body for m in bodies] == ["first", "second"]
        # Message.writer is joined in the same query: no lazy load after the session ends.
        message = await session.scalar(select(Message).where(Message.body == "second"))
    assert message.writer.username == "alice"


async def test_write_only_collection_never_loads_implicitly(app: Quart) -> None:
    async with db.sessionmaker(app)() as session:
        alice = _user("alice")
        session.add(alice)
        await session.commit()
        with pytest.raises(TypeError):
            list(alice.messages)  # iterating would be hidden IO; it is refused


async def test_deleting_a_user_deletes_their_messages_and_logins(app: Quart) -> None:
    async with db.sessionmaker(app)() as session:
        alice, bob = _user("alice"), _user("bob")
        session.add_all([alice, bob])
        await session.flush()
        session.add_all(
            [
                Message(body="a", writer_id=alice.id),
                Message(body="b", writer_id=bob.id),
                LoginSession(token_hash="0" * 64, user_id=alice.id),
            ]
        )
        await session.commit()
        await session.delete(alice)
        await session.commit()

        assert await session.scalar(select(func.count()).select_from(Message)) == 1
        assert await session.scalar(select(func.count()).select_from(LoginSession)) == 0


async def test_foreign_key_is_enforced(app: Quart) -> None:
    async with db.sessionmaker(app)() as session:
        session.add(Message(body="orphan", writer_id=12345))
        with pytest.raises(IntegrityError):
            await session.commit()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("Alice", "a1@example.com"), ("alice", "a2@example.com")),
        (("alice", "Same@Example.com"), ("bob", "same@example.com")),
    ],
)
async def test_username_and_email_are_unique_case_insensitively(
    app: Quart, first: tuple[str, str], second: tuple[str, str]
) -> None:
    async with db.sessionmaker(app)() as session:
        session.add(_user(*first))
        await session.commit()
        session.add(_user(*second))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_times_come_back_aware_and_in_utc(app: Quart) -> None:
    seoul = timezone(timedelta(hours=9))
    written = datetime(2026, 11, 25, 9, 30, tzinfo=seoul)
    async with db.sessionmaker(app)() as session:
        alice = _user("alice")
        alice.created_at = written
        session.add(alice)
        await session.commit()
    async with db.sessionmaker(app)() as session:
        read = await session.scalar(select(User.created_at))
    assert read == written
    assert read.utcoffset() == timedelta(0)
    assert read.tzinfo is not None and read.astimezone(UTC).hour == 0


async def test_naive_datetimes_are_refused(app: Quart) -> None:
    async with db.sessionmaker(app)() as session:
        alice = _user("alice")
        alice.created_at = datetime(2026, 1, 1)  # noqa: DTZ001 (the point of the test)
        session.add(alice)
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()
