"""api tokens: members' personal access tokens for the JSON API

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

A new table only: no copy of an existing one, so nothing of SQLite's batch mode is
needed. Only a token's sha256 is stored; a token dies with its member (cascade). A
token deleted or changed (but for its touch) bumps the logins version, as an ended
login does (0008): workers keep the tokens they found under it. The DDL is written
out here, not imported from the app (`db.triggers.api_tokens_ddl`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)
BUMP = "UPDATE content_version SET logins = logins + 1"
CHANGED = "NEW.token_hash <> OLD.token_hash OR NEW.user_id <> OLD.user_id OR NEW.scope <> OLD.scope"
CALL = "EXECUTE FUNCTION bump_logins_version()"  # 0008's
TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_token_delete "
        f"AFTER DELETE ON api_tokens BEGIN {BUMP}; END",
        "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_token_update "
        f"AFTER UPDATE ON api_tokens WHEN {CHANGED} BEGIN {BUMP}; END",
    ],
    "postgresql": [
        "CREATE OR REPLACE TRIGGER bump_logins_version_on_token_delete AFTER DELETE "
        f"OR TRUNCATE ON api_tokens FOR EACH STATEMENT {CALL}",
        "CREATE OR REPLACE TRIGGER bump_logins_version_on_token_update AFTER UPDATE "
        f"ON api_tokens FOR EACH ROW WHEN ({CHANGED}) {CALL}",
    ],
}


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("scope", sa.String(length=5), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write')", name=op.f("ck_api_tokens_scope")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    for statement in TRIGGERS[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:  # the table's triggers go with it
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
