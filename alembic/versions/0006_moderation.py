"""moderation: roles, hidden messages, blocked members, reports, the audit log

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

The columns of `users` are added and dropped with plain ALTER TABLE (SQLite 3.35 and
later drops a column in place): batch mode's copy of the table would lose its
content-version triggers. `messages` gains a foreign key, which SQLite only
reflects from a table-level constraint, so on SQLite it is copied (batch mode) and its
content-version triggers are made again. The DDL is written out here, not imported
from the app: a migration must keep doing what it did when the app's code moves on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)  # UTC everywhere, as in 0001
REFUSE = "the audit log is append-only"

TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_user_block "
        "AFTER UPDATE OF blocked_at ON users "
        "BEGIN UPDATE content_version SET version = version + 1; END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE TRIGGER bump_content_version_on_block AFTER UPDATE OF blocked_at "
        "ON users FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()",
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{REFUSE}'; END $$",
        "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE "
        "ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE "
        "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}
# 0003's triggers on `messages`, which SQLite's copy of the table drops.
MESSAGE_TRIGGERS_SQLITE = [
    "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_message_insert AFTER INSERT "
    "ON messages BEGIN UPDATE content_version SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_message_update AFTER UPDATE "
    "ON messages BEGIN UPDATE content_version SET version = version + 1; END",
    "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_message_delete AFTER DELETE "
    "ON messages BEGIN UPDATE content_version SET version = version + 1; END",
]
DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER IF EXISTS bump_content_version_on_user_block"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS bump_content_version_on_block ON users",
        "DROP FUNCTION IF EXISTS audit_log_append_only() CASCADE",
    ],
}


def upgrade() -> None:
    op.execute(
        "ALTER TABLE users ADD COLUMN role VARCHAR(20) DEFAULT 'member' NOT NULL "
        "CONSTRAINT ck_users_role CHECK (role IN ('member', 'moderator'))"
    )
    op.add_column("users", sa.Column("blocked_at", Timestamp, nullable=True))
    with _messages_batch() as batch:
        batch.add_column(sa.Column("hidden_at", Timestamp, nullable=True))
        batch.add_column(sa.Column("hidden_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_messages_hidden_by_users", "users", ["hidden_by"], ["id"], ondelete="SET NULL"
        )
    _message_triggers()
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name="fk_reports_message_id_messages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name="fk_reports_reporter_id_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("message_id", "reporter_id", name="uq_reports_message_id"),
    )
    op.create_index("ix_reports_reporter_id", "reports", ["reporter_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    for statement in TRIGGERS[op.get_context().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGERS[op.get_context().dialect.name]:
        op.execute(statement)
    op.drop_table("audit_log")
    op.drop_index("ix_reports_reporter_id", table_name="reports")
    op.drop_table("reports")
    with _messages_batch() as batch:
        batch.drop_constraint("fk_messages_hidden_by_users", type_="foreignkey")
        batch.drop_column("hidden_by")
        batch.drop_column("hidden_at")
    _message_triggers()
    op.execute("ALTER TABLE users DROP COLUMN blocked_at")
    op.execute("ALTER TABLE users DROP COLUMN role")


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _messages_batch():  # noqa: ANN202
    """ALTER TABLE on PostgreSQL; on SQLite, a copy of the table."""
    return op.batch_alter_table("messages", recreate="always" if _sqlite() else "auto")


def _message_triggers() -> None:
    """After SQLite's copy of `messages`: its content-version triggers again."""
    if _sqlite():
        for statement in MESSAGE_TRIGGERS_SQLITE:
            op.execute(statement)
