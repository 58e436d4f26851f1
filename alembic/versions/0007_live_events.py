"""the live event log, filled by triggers on messages

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

Every committed change to `messages` appends a row (seq, kind, message_id, at) in the
writing transaction; on PostgreSQL the trigger also sends NOTIFY guestbook_live, which
each serving worker LISTENs to. The migration holds its own copy of the DDL (the app's
is `db.triggers.live_events_ddl`). On SQLite a later batch migration of `messages` drops these
triggers with the old table: such a migration must create them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1"
SQLITE_TRIGGERS = (
    ("live_event_on_message_insert", "INSERT", "created", "NEW"),
    ("live_event_on_message_update", "UPDATE", "edited", "NEW"),
    ("live_event_on_message_delete", "DELETE", "deleted", "OLD"),
)
POSTGRESQL_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION log_live_event() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE event_seq bigint; event_kind text; event_message integer; BEGIN "
    # Writers take turns until they commit: numbers follow commit order, with no gaps.
    "PERFORM pg_advisory_xact_lock(444351214452); "
    "IF TG_OP = 'INSERT' THEN event_kind := 'created'; event_message := NEW.id; "
    "ELSIF TG_OP = 'UPDATE' THEN event_kind := 'edited'; event_message := NEW.id; "
    "ELSE event_kind := 'deleted'; event_message := OLD.id; END IF; "
    "INSERT INTO live_events (seq, kind, message_id, at) "
    f"{NEXT_SEQ}, event_kind, event_message, now() FROM live_events "
    "RETURNING seq INTO event_seq; "
    "PERFORM pg_notify('guestbook_live', event_seq::text); RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER log_live_event AFTER INSERT OR UPDATE OR DELETE "
    "ON messages FOR EACH ROW EXECUTE FUNCTION log_live_event()",
)


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=7), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_live_events")),
    )
    op.create_index(op.f("ix_live_events_at"), "live_events", ["at"], unique=False)
    if op.get_context().dialect.name == "postgresql":
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for name, when, kind, row in SQLITE_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {when} ON messages BEGIN "
                f"INSERT INTO live_events (seq, kind, message_id, at) {NEXT_SEQ}, '{kind}', "
                f"{row}.id, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM live_events; END"
            )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS log_live_event ON messages")
        op.execute("DROP FUNCTION IF EXISTS log_live_event()")
    else:
        for name, _when, _kind, _row in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index(op.f("ix_live_events_at"), table_name="live_events")
    op.drop_table("live_events")
