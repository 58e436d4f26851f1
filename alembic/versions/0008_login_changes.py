"""the logins version: ending a login or changing an account bumps it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

Each worker keeps who a login cookie belongs to under `content_version.logins`, a
second number in the content version's row (`logins.resolve`). Triggers bump it when a
login ends (a DELETE), when a login changes in any way but its touch moving
`last_seen_at` forward, and when a member's account columns change. The migration holds
its own copy of the DDL (the app's is `db.triggers.content_version_ddl`).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET logins = logins + 1"
CHANGED = (
    "NEW.last_seen_at < OLD.last_seen_at OR NEW.created_at <> OLD.created_at "
    "OR NEW.user_id <> OLD.user_id OR NEW.token_hash <> OLD.token_hash"
)
ACCOUNT = "username, email, password_hash, role, locale, blocked_at"
CALL = "EXECUTE FUNCTION bump_logins_version()"
TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_login_delete "
        f"AFTER DELETE ON login_sessions BEGIN {BUMP}; END",
        "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_login_update "
        f"AFTER UPDATE ON login_sessions WHEN {CHANGED} BEGIN {BUMP}; END",
        "CREATE TRIGGER IF NOT EXISTS bump_logins_version_on_account_update "
        f"AFTER UPDATE OF {ACCOUNT} ON users BEGIN {BUMP}; END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION bump_logins_version() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$",
        "CREATE OR REPLACE TRIGGER bump_logins_version_on_login_delete AFTER DELETE "
        f"OR TRUNCATE ON login_sessions FOR EACH STATEMENT {CALL}",
        "CREATE OR REPLACE TRIGGER bump_logins_version_on_login_update AFTER UPDATE "
        f"ON login_sessions FOR EACH ROW WHEN ({CHANGED}) {CALL}",
        "CREATE OR REPLACE TRIGGER bump_logins_version_on_account_update AFTER UPDATE "
        f"OF {ACCOUNT} ON users FOR EACH STATEMENT {CALL}",
    ],
}
SQLITE_NAMES = ("login_delete", "login_update", "account_update")


def upgrade() -> None:
    op.add_column(
        "content_version",
        sa.Column("logins", sa.BigInteger(), server_default="0", nullable=False),
    )
    # A random start, as the content version's own: a worker that kept logins under an
    # earlier row's numbers must not meet them again.
    op.execute(
        sa.text("UPDATE content_version SET logins = :start").bindparams(
            start=secrets.randbelow(2**52)
        )
    )
    for statement in TRIGGERS[op.get_context().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS bump_logins_version() CASCADE")  # and its triggers
    else:
        for name in SQLITE_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS bump_logins_version_on_{name}")
    op.execute("ALTER TABLE content_version DROP COLUMN logins")
