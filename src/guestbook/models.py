"""The tables: users, their messages (and replies), likes, their login sessions and
API tokens, the mail outbox and the reply mail's bookkeeping, the content version that
message-list caches are keyed by, moderation's reports and audit log, and the names
of deleted accounts while they are held back.

Imports only SQLAlchemy, and the keys a name and an address are compared by
(`lib.keys`, set with them by `User`'s hook). The limits a row must obey
(lengths) live here once, so forms, the CLI and the fuzz tests all check against the
same numbers; the rest of a name's rules are `accounts.names`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    WriteOnlyMapped,
    mapped_column,
    relationship,
    validates,
)

from guestbook.lib.keys import canonical, email_key, skeleton  # noqa: F401 (the models' keys)

USERNAME_MIN, USERNAME_MAX = 2, 30  # characters, after NFC
EMAIL_MAX = 254
BODY_MAX = 1000
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
USER_AGENT_MAX = 300
IP_MAX = 45  # the longest IPv6 text form
ID_MAX = 2**31 - 1  # Integer ids are 32-bit on PostgreSQL; larger numbers match no row
SUBJECT_MAX = 200
REASON_MAX = 300  # a report's or a moderator's reason
MEMBER, MODERATOR = "member", "moderator"  # users.role
READ, WRITE = "read", "write"  # api_tokens.scope: write includes read
TOKEN_NAME_MAX = 60
LOCALE_MAX = 8


def utcnow() -> datetime:
    return datetime.now(UTC)


# Columns that several tables declare alike, each declared once (SQLAlchemy's
# `Annotated` columns): `id: Mapped[IntPK]`.
IntPK = Annotated[int, mapped_column(primary_key=True)]
DefaultNow = Annotated[datetime, mapped_column(default=utcnow)]
Email = Annotated[str, mapped_column(String(EMAIL_MAX))]
Reason = Annotated[str, mapped_column(String(REASON_MAX), default="")]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones, so values are stored as naive UTC there and made aware
    again on the way out; PostgreSQL stores timestamptz. Always storing UTC also keeps
    SQLite's text comparison (used by keyset pagination) in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use guestbook.models.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value  # type: ignore[attr-defined]

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(AsyncAttrs, DeclarativeBase):
    # Every datetime column is aware UTC; a str column without a length is TEXT.
    type_annotation_map = {datetime: UTCDateTime, str: Text}  # noqa: RUF012
    # Named constraints, so alembic's batch mode on SQLite can find and alter them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[IntPK]
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    email: Mapped[Email]
    # Every lookup compares these (set with the name and address, never by hand).
    username_key: Mapped[str]
    email_key: Mapped[str]
    # No two members' names look alike (set with the name too).
    username_skeleton: Mapped[str]
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[DefaultNow]
    role: Mapped[str] = mapped_column(String(20), default=MEMBER, server_default=MEMBER)
    # Set while a moderator has blocked the member: no login, no posting.
    blocked_at: Mapped[datetime | None] = mapped_column(default=None)
    # The language the member chose ("en", "ko"): set again in each browser they log in
    # to, and the language of their mail. None until they choose or sign up.
    locale: Mapped[str | None] = mapped_column(String(LOCALE_MAX), default=None)
    # Whether they hear of replies to their messages by mail (the account page's
    # switch, or one click in such a mail).
    reply_mail: Mapped[bool] = mapped_column(default=True, server_default=true())

    # Flask's `db.relationship(lazy='dynamic')`, async-safe: a query you await, never
    # a list loaded behind your back.
    messages: WriteOnlyMapped[Message] = relationship(
        back_populates="writer",
        cascade="all, delete-orphan",
        passive_deletes=True,
        foreign_keys="Message.writer_id",
    )

    __table_args__ = (
        # One account per canonical name and per canonical address.
        Index("uq_users_username_key", "username_key", unique=True),
        Index("uq_users_email_key", "email_key", unique=True),
        Index("uq_users_username_skeleton", "username_skeleton", unique=True),
        CheckConstraint(f"role IN ('{MEMBER}', '{MODERATOR}')", name="role"),
    )

    @property
    def is_moderator(self) -> bool:
        return self.role == MODERATOR

    @validates("username", "email")
    def _set_key(self, field: str, value: str) -> str:
        if field == "username":
            self.username_key = canonical(value)
            self.username_skeleton = skeleton(value)
        else:
            self.email_key = email_key(value)
        return value

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[IntPK]
    body: Mapped[str]
    created_at: Mapped[DefaultNow]
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    writer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Hidden by a moderator (or by members' reports, with no one in hidden_by): the row
    # stays, out of every public list.
    hidden_at: Mapped[datetime | None] = mapped_column(default=None)
    hidden_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # A reply's message (replies are one level deep: never a reply's id). None for a
    # message of the guestbook itself.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), default=None
    )
    # Kept by triggers (`db.triggers.conversation_ddl`), whoever writes: the visible
    # replies and the likes. Each change is an update of the message, so its live
    # event and the content version follow by themselves.
    reply_count: Mapped[int] = mapped_column(default=0, server_default="0")
    like_count: Mapped[int] = mapped_column(default=0, server_default="0")

    writer: Mapped[User] = relationship(
        back_populates="messages", lazy="joined", innerjoin=True, foreign_keys=[writer_id]
    )

    __table_args__ = (
        Index("ix_messages_created_at_id", "created_at", "id"),
        Index("ix_messages_writer_id_created_at_id", "writer_id", "created_at", "id"),
        # A message's page lists its replies oldest first.
        Index("ix_messages_parent_id_created_at_id", "parent_id", "created_at", "id"),
    )

    @hybrid_property
    def visible(self) -> bool:
        """The one condition every public list, count and feed selects by."""
        return self.hidden_at is None

    @visible.inplace.expression
    @classmethod
    def _visible(cls):  # noqa: ANN206
        return cls.hidden_at.is_(None)

    def __repr__(self) -> str:
        return f"<Message {self.id} by {self.writer_id}>"


class ContentVersion(Base):
    """One row whose number goes up with every change to what a message list shows
    (a message written, edited or deleted; a member renamed or deleted). Triggers in
    the database bump it, in the writing transaction, whoever writes: this worker,
    another host, a cascade, a migration, psql. So a page's reads can be cached by it
    in each worker (`list_cache.read`) and never go stale."""

    __tablename__ = "content_version"

    id: Mapped[IntPK]
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    # Goes up whenever a login ends or changes (but for its touch) or an account
    # changes: each worker keeps who a login cookie belongs to under it (`logins`).
    logins: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class LiveEvent(Base):
    """The log of committed changes to messages that `/live` pushes to open pages: one
    row per message created, edited or deleted, written by triggers in the writing
    transaction (so a rolled-back write logs nothing, and psql or the CLI count too).

    `seq` has no gaps and follows commit order: each row takes the highest number plus
    one, and on PostgreSQL writers take turns (a transaction-long advisory lock), so a
    reader that has seen `seq` N has seen everything up to N. Old rows are pruned but
    the newest, so numbers never start over."""

    __tablename__ = "live_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(7))  # created, edited, deleted
    message_id: Mapped[int] = mapped_column()  # no foreign key: deletions are logged
    # A reply's message: pages that show replies take it, the others skip it.
    parent_id: Mapped[int | None] = mapped_column(default=None)
    at: Mapped[datetime] = mapped_column(index=True)


class Like(Base):
    """A member likes a message or a reply: one row per member and message, so a
    burst of likes counts once."""

    __tablename__ = "likes"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[DefaultNow]


class ReplyMail(Base):
    """Where a message's reply mail stands: the writer hears of replies at most once a
    `reply_mail_minutes`, each mail listing the replies since the last one. A row is
    due (`due_at`) from a reply until its mail is queued."""

    __tablename__ = "reply_mail"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    mailed_at: Mapped[datetime | None] = mapped_column(default=None)
    mailed_through: Mapped[int] = mapped_column(default=0)  # the newest reply mailed
    due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)


class LoginSession(Base):
    """The lecture's server-side session: hash of the cookie's token -> user."""

    __tablename__ = "login_sessions"

    id: Mapped[IntPK]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[DefaultNow]
    last_seen_at: Mapped[DefaultNow]
    remember: Mapped[bool] = mapped_column(default=False)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX), default="")
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="")

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class ApiToken(Base):
    """A member's personal access token for the JSON API: only the token's sha256 is
    kept (like a login's), shown to the member once when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[IntPK]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX))
    scope: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[DefaultNow]
    # Moved forward at most once a minute: a token in use costs no write per request.
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (CheckConstraint(f"scope IN ('{READ}', '{WRITE}')", name="scope"),)


class Outbox(Base):
    """A mail the app promised, written in the same transaction as its cause and
    delivered later by `mail.py`'s sender (which explains the claim columns)."""

    __tablename__ = "outbox"

    id: Mapped[IntPK]
    recipient: Mapped[Email]
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX))
    text_body: Mapped[str]
    html_body: Mapped[str]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[DefaultNow]
    last_error: Mapped[str] = mapped_column(default="")
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[DefaultNow]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # A mail a member may stop with one click: its signed unsubscribe link (RFC 8058).
    unsubscribe_url: Mapped[str] = mapped_column(default="", server_default="")

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        # The sender's question: which pending mail is due?
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    def __repr__(self) -> str:
        return f"<Outbox {self.id} to {self.recipient!r} {self.status}>"


class Report(Base):
    """A member's report of a message: one per member and message, ever. Open until a
    moderator decides (hides, keeps or deletes the message)."""

    __tablename__ = "reports"

    id: Mapped[IntPK]
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[Reason]
    created_at: Mapped[DefaultNow]
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (UniqueConstraint("message_id", "reporter_id"),)


class AuditEntry(Base):
    """One moderator action, kept for good: no foreign keys (the log outlives the
    message or member it names, so it holds their names too), and triggers refuse
    UPDATE and DELETE (`db.triggers`) but a deleted member's name becoming a pseudonym."""

    __tablename__ = "audit_log"

    id: Mapped[IntPK]
    created_at: Mapped[DefaultNow]
    actor_id: Mapped[int | None] = mapped_column(default=None)  # None: not a member
    actor: Mapped[str] = mapped_column(String(USERNAME_MAX + 10))  # a name, or "(reports)"
    action: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column(default=None)
    user_id: Mapped[int | None] = mapped_column(default=None)
    target: Mapped[str] = mapped_column(String(200))  # what it was done to, in words
    reason: Mapped[Reason]


class ReleasedName(Base):
    """A deleted account's name, kept from the time it was released: no new member
    takes it, or a name that looks like it, within `name_quarantine_days`."""

    __tablename__ = "released_names"

    id: Mapped[IntPK]
    username_key: Mapped[str] = mapped_column(index=True)
    username_skeleton: Mapped[str] = mapped_column(index=True)
    released_at: Mapped[datetime]
