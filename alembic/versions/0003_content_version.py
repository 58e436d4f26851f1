"""the content version, counted by triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

The migration holds its own copy of the DDL, as it was on this day: the app's
`db.triggers.content_version_ddl` may change later, and must not change what this step did.
On SQLite a later batch migration of `messages` or `users` copies the table into a new
one, without these triggers: such a migration must create them again
(tests/db/test_migrations.py checks that writes at head still bump the version).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET version = version + 1"
SQLITE_TRIGGERS = (
    ("bump_content_version_on_message_insert", "messages", "INSERT"),
    ("bump_content_version_on_message_update", "messages", "UPDATE"),
    ("bump_content_version_on_message_delete", "messages", "DELETE"),
    ("bump_content_version_on_user_insert", "users", "INSERT"),
    ("bump_content_version_on_user_update", "users", "UPDATE OF username, created_at"),
    ("bump_content_version_on_user_delete", "users", "DELETE"),
)
POSTGRESQL_TRIGGERS = (
    "CREATE OR REPLACE FUNCTION bump_content_version() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$",
    "CREATE OR REPLACE TRIGGER bump_content_version AFTER INSERT OR UPDATE OR DELETE "
    "OR TRUNCATE ON messages FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()",
    "CREATE OR REPLACE TRIGGER bump_content_version AFTER INSERT "
    "OR UPDATE OF username, created_at OR DELETE OR TRUNCATE ON users "
    "FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()",
)


def upgrade() -> None:
    op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version")),
    )
    # A random start: a worker that cached pages under an earlier row's numbers must
    # not meet them again.
    op.execute(
        sa.text("INSERT INTO content_version (id, version) VALUES (1, :start)").bindparams(
            start=secrets.randbelow(2**52)
        )
    )
    if op.get_context().dialect.name == "postgresql":
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for name, table, when in SQLITE_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} AFTER {when} ON {table} BEGIN {BUMP}; END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS bump_content_version ON messages")
        op.execute("DROP TRIGGER IF EXISTS bump_content_version ON users")
        op.execute("DROP FUNCTION IF EXISTS bump_content_version()")
    else:
        for name, _table, _when in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("content_version")
