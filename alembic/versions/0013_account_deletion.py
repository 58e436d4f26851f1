"""account deletion: released names held back, the audit log's pseudonyms

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

A member may delete their account. `released_names` keeps a deleted account's name
(its canonical key and look-alike skeleton) with the time it was released, so no new
member takes it, or a name that looks like it, for GUESTBOOK_NAME_QUARANTINE_DAYS.

The audit log stays append-only but for one change: the entries of a member who is
gone lose the member's id, and their name becomes a pseudonym, "(deleted 3f9a0c1d2b7e)"
(as the actor; "member (deleted …)" as the target of an entry about a member). 0006's
triggers refused every UPDATE; here they let exactly that one through, and go back to
refusing everything on the downgrade (pseudonymized entries stay as they are: their
names are gone). A new table and triggers only: no copy of a table. The DDL is written
out here, not imported from the app (`db.triggers.moderation_ddl`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
REFUSE = "the audit log is append-only"
HEX = 12  # a pseudonym's random hex digits
PSEUDONYM = {
    "sqlite": "GLOB '{before}(deleted " + "[0-9a-f]" * HEX + ")'",
    "postgresql": "~ '^{before}[(]deleted [0-9a-f]{{" + str(HEX) + "}}[)]$'",
}


def pseudonymizing(dialect: str) -> str:
    """The one UPDATE of an audit entry let through (NULL anywhere refuses it)."""
    same = "IS" if dialect == "sqlite" else "IS NOT DISTINCT FROM"
    like = PSEUDONYM[dialect].format(before="")
    member = PSEUDONYM[dialect].format(before="member ")
    gone = "NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.{})"
    return (
        "NEW.id = OLD.id AND NEW.created_at = OLD.created_at AND NEW.action = OLD.action "
        f"AND NEW.message_id {same} OLD.message_id AND NEW.reason = OLD.reason "
        f"AND ((NEW.actor_id {same} OLD.actor_id AND NEW.actor = OLD.actor) "
        f"OR (OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL AND NEW.actor {like} "
        f"AND {gone.format('actor_id')})) "
        f"AND ((NEW.user_id {same} OLD.user_id AND NEW.target = OLD.target) "
        f"OR (OLD.user_id IS NOT NULL AND NEW.user_id IS NULL AND {gone.format('user_id')} "
        f"AND ((OLD.message_id IS NULL AND NEW.target {member}) "
        "OR (OLD.message_id IS NOT NULL AND NEW.target = OLD.target))))"
    )


def sqlite_update_trigger(allowed: str | None) -> list[str]:
    """0006's trigger (`allowed` None: every UPDATE refused), or this one's."""
    when = f"WHEN ({allowed}) IS NOT 1 " if allowed else ""
    return [
        "DROP TRIGGER IF EXISTS audit_log_no_update",
        f"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log {when}"
        f"BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END",
    ]


def postgresql_function(allowed: str | None) -> list[str]:
    """0006's function (`allowed` None: every UPDATE refused), or this one's; 0006's
    triggers (UPDATE or DELETE of a row, TRUNCATE) call it as before."""
    let_through = f"IF TG_OP = 'UPDATE' THEN IF {allowed} THEN RETURN NEW; END IF; END IF; "
    return [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {let_through if allowed else ''}"
        f"RAISE EXCEPTION '{REFUSE}'; END $$"
    ]


def audit_triggers(dialect: str, allowed: str | None) -> list[str]:
    if dialect == "sqlite":
        return sqlite_update_trigger(allowed)
    return postgresql_function(allowed)


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.create_table(
        "released_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username_key", sa.Text(), nullable=False),
        sa.Column("username_skeleton", sa.Text(), nullable=False),
        sa.Column("released_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_released_names")),
    )
    op.create_index("ix_released_names_username_key", "released_names", ["username_key"])
    op.create_index("ix_released_names_username_skeleton", "released_names", ["username_skeleton"])
    for statement in audit_triggers(dialect, pseudonymizing(dialect)):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    for statement in audit_triggers(dialect, None):
        op.execute(statement)
    op.drop_index("ix_released_names_username_skeleton", table_name="released_names")
    op.drop_index("ix_released_names_username_key", table_name="released_names")
    op.drop_table("released_names")
