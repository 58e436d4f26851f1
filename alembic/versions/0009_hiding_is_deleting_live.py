"""a hidden message is "deleted" to the live pages, not "edited"

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Watchers of a page learnt a message was moderated (an "edited" event, then a 404 for
its HTML). Hiding now logs "deleted"; showing it again stays "edited" (the page puts
it back in its place). The migration holds its own copy of the DDL (the app's is
`db.triggers.live_events_ddl`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1"
HIDING = "OLD.hidden_at IS NULL AND NEW.hidden_at IS NOT NULL"
SQLITE_EVENT = (
    "INSERT INTO live_events (seq, kind, message_id, at) {next_seq}, '{kind}', NEW.id, "
    "strftime('%Y-%m-%d %H:%M:%f', 'now') FROM live_events"
)


def postgresql_function(hiding_deletes: bool) -> str:
    hide = (
        f"ELSIF TG_OP = 'UPDATE' AND {HIDING} THEN "
        "event_kind := 'deleted'; event_message := NEW.id; "
        if hiding_deletes
        else ""
    )
    return (
        "CREATE OR REPLACE FUNCTION log_live_event() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE event_seq bigint; event_kind text; event_message integer; BEGIN "
        "PERFORM pg_advisory_xact_lock(444351214452); "
        "IF TG_OP = 'INSERT' THEN event_kind := 'created'; event_message := NEW.id; "
        f"{hide}"
        "ELSIF TG_OP = 'UPDATE' THEN event_kind := 'edited'; event_message := NEW.id; "
        "ELSE event_kind := 'deleted'; event_message := OLD.id; END IF; "
        "INSERT INTO live_events (seq, kind, message_id, at) "
        f"{NEXT_SEQ}, event_kind, event_message, now() FROM live_events "
        "RETURNING seq INTO event_seq; "
        "PERFORM pg_notify('guestbook_live', event_seq::text); RETURN NULL; END $$"
    )


def sqlite_update_trigger(name: str, kind: str, condition: str) -> str:
    event = SQLITE_EVENT.format(next_seq=NEXT_SEQ, kind=kind)
    return f"CREATE TRIGGER {name} AFTER UPDATE ON messages {condition}BEGIN {event}; END"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(postgresql_function(hiding_deletes=True))
        return
    op.execute("DROP TRIGGER IF EXISTS live_event_on_message_update")
    op.execute(
        sqlite_update_trigger("live_event_on_message_update", "edited", f"WHEN NOT ({HIDING}) ")
    )
    op.execute(sqlite_update_trigger("live_event_on_message_hide", "deleted", f"WHEN {HIDING} "))


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(postgresql_function(hiding_deletes=False))
        return
    op.execute("DROP TRIGGER IF EXISTS live_event_on_message_hide")
    op.execute("DROP TRIGGER IF EXISTS live_event_on_message_update")
    op.execute(sqlite_update_trigger("live_event_on_message_update", "edited", ""))
