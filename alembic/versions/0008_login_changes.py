"""ending a login or changing an account bumps the content version

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

Each worker keeps who a login cookie belongs to under the content version, as it keeps
pages (`logins.resolve`). So the version must go up when a login ends (a DELETE), when
a login changes in any way but its touch moving `last_seen_at` forward, and when a
member's account columns change (the name and a block bump it already, since 0003 and
0006). The migration holds its own copy of the DDL (the app's is
`models.content_version_ddl`).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET version = version + 1"
CHANGED = (
    "NEW.last_seen_at < OLD.last_seen_at OR NEW.created_at <> OLD.created_at "
    "OR NEW.user_id <> OLD.user_id OR NEW.token_hash <> OLD.token_hash"
)
ACCOUNT = "email, password_hash, role, locale"
TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_login_delete "
        f"AFTER DELETE ON login_sessions BEGIN {BUMP}; END",
        "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_login_update "
        f"AFTER UPDATE ON login_sessions WHEN {CHANGED} BEGIN {BUMP}; END",
        "CREATE TRIGGER IF NOT EXISTS bump_content_version_on_account_update "
        f"AFTER UPDATE OF {ACCOUNT} ON users BEGIN {BUMP}; END",
    ],
    "postgresql": [
        "CREATE OR REPLACE TRIGGER bump_content_version_on_login_delete AFTER DELETE "
        "OR TRUNCATE ON login_sessions FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()",
        "CREATE OR REPLACE TRIGGER bump_content_version_on_login_update AFTER UPDATE "
        f"ON login_sessions FOR EACH ROW WHEN ({CHANGED}) "
        "EXECUTE FUNCTION bump_content_version()",
        "CREATE OR REPLACE TRIGGER bump_content_version_on_account_update AFTER UPDATE "
        f"OF {ACCOUNT} ON users FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()",
    ],
}
NAMES = (
    ("bump_content_version_on_login_delete", "login_sessions"),
    ("bump_content_version_on_login_update", "login_sessions"),
    ("bump_content_version_on_account_update", "users"),
)


def upgrade() -> None:
    for statement in TRIGGERS[op.get_context().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    on_postgresql = op.get_context().dialect.name == "postgresql"
    for name, table in NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if on_postgresql else ""))
