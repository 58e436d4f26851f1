"""conversation: replies, likes, reply mail

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

A reply is a message with a `parent_id`; `reply_count` and `like_count` are kept by
triggers; the live log says which message a reply belongs to; `reply_mail` is where
each message's reply mail stands; members may switch reply mail off, and a mail
carries its one-click unsubscribe link.

On SQLite, `messages` gains a foreign key, which SQLite only reflects from a
table-level constraint: the table is copied (batch mode), both ways (env.py turns
foreign keys off meanwhile, so dropping the old table deletes no report). The copy
leaves the triggers on `messages` behind: they are made again. The DDL is written out
here, not imported from the app.
"""

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
LOCK = "PERFORM pg_advisory_xact_lock(444351214452); "
NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1"
HIDING = "OLD.hidden_at IS NULL AND NEW.hidden_at IS NOT NULL"
SHOWN_OR_HIDDEN = "(OLD.hidden_at IS NULL) <> (NEW.hidden_at IS NULL)"
COUNT = {
    "reply+": "UPDATE messages SET reply_count = reply_count + 1 WHERE id = NEW.parent_id",
    "reply-": "UPDATE messages SET reply_count = reply_count - 1 WHERE id = OLD.parent_id",
    "reply+-": "UPDATE messages SET reply_count = reply_count "
    "+ CASE WHEN NEW.hidden_at IS NULL THEN 1 ELSE -1 END WHERE id = NEW.parent_id",
    "like+": "UPDATE messages SET like_count = like_count + 1 WHERE id = NEW.message_id",
    "like-": "UPDATE messages SET like_count = like_count - 1 WHERE id = OLD.message_id",
}

# (trigger, event, kind, row, condition): 0009's live triggers, which name no parent
LIVE_SQLITE = (
    ("live_event_on_message_insert", "INSERT", "created", "NEW", ""),
    ("live_event_on_message_update", "UPDATE", "edited", "NEW", f"WHEN NOT ({HIDING}) "),
    ("live_event_on_message_hide", "UPDATE", "deleted", "NEW", f"WHEN {HIDING} "),
    ("live_event_on_message_delete", "DELETE", "deleted", "OLD", ""),
)
COUNTERS_SQLITE = (
    ("count_reply_on_insert", "messages", "INSERT",
     "NEW.parent_id IS NOT NULL AND NEW.hidden_at IS NULL", COUNT["reply+"]),
    ("count_reply_on_delete", "messages", "DELETE",
     "OLD.parent_id IS NOT NULL AND OLD.hidden_at IS NULL", COUNT["reply-"]),
    ("count_reply_on_hide", "messages", "UPDATE OF hidden_at",
     f"NEW.parent_id IS NOT NULL AND {SHOWN_OR_HIDDEN}", COUNT["reply+-"]),
    ("count_like_on_insert", "likes", "INSERT", "", COUNT["like+"]),
    ("count_like_on_delete", "likes", "DELETE", "", COUNT["like-"]),
)  # fmt: skip
BUMP = "UPDATE content_version SET version = version + 1"
CONTENT_VERSION_SQLITE = [  # 0003's, which the downgrade's copy of `messages` drops
    f"CREATE TRIGGER IF NOT EXISTS bump_content_version_on_message_{when.lower()} "
    f"AFTER {when} ON messages BEGIN {BUMP}; END"
    for when in ("INSERT", "UPDATE", "DELETE")
]
COUNTERS_POSTGRESQL = [
    "CREATE OR REPLACE FUNCTION count_replies() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'INSERT' THEN "
    f"IF NEW.parent_id IS NOT NULL AND NEW.hidden_at IS NULL THEN {LOCK}{COUNT['reply+']}; "
    "END IF; ELSIF TG_OP = 'DELETE' THEN "
    f"IF OLD.parent_id IS NOT NULL AND OLD.hidden_at IS NULL THEN {LOCK}{COUNT['reply-']}; "
    f"END IF; ELSIF NEW.parent_id IS NOT NULL AND {SHOWN_OR_HIDDEN} THEN {LOCK}"
    f"{COUNT['reply+-']}; END IF; RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER count_replies AFTER INSERT OR DELETE OR UPDATE OF hidden_at "
    "ON messages FOR EACH ROW EXECUTE FUNCTION count_replies()",
    "CREATE OR REPLACE FUNCTION count_likes() RETURNS trigger LANGUAGE plpgsql AS $$ "
    f"BEGIN {LOCK}IF TG_OP = 'INSERT' THEN {COUNT['like+']}; ELSE {COUNT['like-']}; "
    "END IF; RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER count_likes AFTER INSERT OR DELETE ON likes "
    "FOR EACH ROW EXECUTE FUNCTION count_likes()",
]


def live_sqlite(with_parent: bool) -> list[str]:
    parent = (", parent_id", "{row}.parent_id, ") if with_parent else ("", "")
    return [
        f"CREATE TRIGGER {name} AFTER {when} ON messages {condition}BEGIN "
        f"INSERT INTO live_events (seq, kind, message_id{parent[0]}, at) {NEXT_SEQ}, '{kind}', "
        f"{row}.id, {parent[1].format(row=row)}strftime('%Y-%m-%d %H:%M:%f', 'now') "
        "FROM live_events; END"
        for name, when, kind, row, condition in LIVE_SQLITE
    ]


def live_postgresql(with_parent: bool) -> str:
    """0009's function, and with the parent of each row's message."""

    def event(kind: str, row: str) -> str:
        parent = f"event_parent := {row}.parent_id; " if with_parent else ""
        return f"event_kind := '{kind}'; event_message := {row}.id; {parent}"

    return (
        "CREATE OR REPLACE FUNCTION log_live_event() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE event_seq bigint; event_kind text; event_message integer; "
        "event_parent integer; BEGIN "
        f"{LOCK}"
        f"IF TG_OP = 'INSERT' THEN {event('created', 'NEW')}"
        f"ELSIF TG_OP = 'UPDATE' AND {HIDING} THEN {event('deleted', 'NEW')}"
        f"ELSIF TG_OP = 'UPDATE' THEN {event('edited', 'NEW')}"
        f"ELSE {event('deleted', 'OLD')}END IF; "
        f"INSERT INTO live_events (seq, kind, message_id{', parent_id' if with_parent else ''}, "
        f"at) {NEXT_SEQ}, event_kind, event_message{', event_parent' if with_parent else ''}, "
        "now() FROM live_events RETURNING seq INTO event_seq; "
        "PERFORM pg_notify('guestbook_live', event_seq::text); RETURN NULL; END $$"
    )


@contextlib.contextmanager
def messages_copied(dialect: str, with_parent: bool) -> Iterator[BatchOperations]:
    """A batch of changes to `messages`; on SQLite, its triggers (0003's content version,
    the live log's) made again after the copy."""
    with op.batch_alter_table("messages") as batch:
        yield batch
    if dialect == "sqlite":
        for statement in [*CONTENT_VERSION_SQLITE, *live_sqlite(with_parent)]:
            op.execute(statement)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.add_column(
        "users", sa.Column("reply_mail", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.add_column(
        "outbox", sa.Column("unsubscribe_url", sa.Text(), server_default="", nullable=False)
    )
    op.add_column("live_events", sa.Column("parent_id", sa.Integer(), nullable=True))
    with messages_copied(dialect, with_parent=True) as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_parent_id_messages", "messages", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        for counter in ("reply_count", "like_count"):
            batch.add_column(sa.Column(counter, sa.Integer(), server_default="0", nullable=False))
    op.create_index(
        "ix_messages_parent_id_created_at_id", "messages", ["parent_id", "created_at", "id"]
    )
    op.create_table(
        "likes",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_likes_message_id_messages", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_likes_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("message_id", "user_id", name="pk_likes"),
    )
    op.create_index("ix_likes_user_id", "likes", ["user_id"])
    op.create_table(
        "reply_mail",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("mailed_at", Timestamp, nullable=True),
        sa.Column("mailed_through", sa.Integer(), nullable=False),
        sa.Column("due_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_reply_mail_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name="pk_reply_mail"),
    )
    op.create_index("ix_reply_mail_due_at", "reply_mail", ["due_at"])
    if dialect == "sqlite":
        for name, table, when, condition, count in COUNTERS_SQLITE:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON {table} "
                f"{f'WHEN {condition} ' if condition else ''}BEGIN {count}; END"
            )
    else:
        op.execute(live_postgresql(with_parent=True))
        for statement in COUNTERS_POSTGRESQL:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS count_replies() CASCADE")
        op.execute("DROP FUNCTION IF EXISTS count_likes() CASCADE")
        op.execute(live_postgresql(with_parent=False))
    op.drop_index("ix_reply_mail_due_at", table_name="reply_mail")
    op.drop_table("reply_mail")
    op.drop_index("ix_likes_user_id", table_name="likes")
    op.drop_table("likes")
    op.drop_index("ix_messages_parent_id_created_at_id", table_name="messages")
    op.execute("DELETE FROM messages WHERE parent_id IS NOT NULL")  # 0010 has no replies
    with messages_copied(dialect, with_parent=False) as batch:
        if dialect == "postgresql":
            batch.drop_constraint("fk_messages_parent_id_messages", type_="foreignkey")
        for column in ("like_count", "reply_count", "parent_id"):
            batch.drop_column(column)
    op.drop_column("live_events", "parent_id")
    op.drop_column("outbox", "unsubscribe_url")
    op.drop_column("users", "reply_mail")
