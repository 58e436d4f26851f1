"""canonical keys for usernames and emails

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Every lookup compares `username_key` and `email_key`: NFKC plus case folding, the
email's domain in IDNA form, computed in Python (SQL's lower() is ASCII-only in
SQLite). The keys of existing rows are computed here, and when two accounts share one
("Émile@" and "émile@", say) the upgrade stops before changing anything, naming them:
merge or rename one, then upgrade again. The key functions are copied, not imported,
so this revision keeps doing what it did when the app's code changes.

On SQLite the NOT NULL change copies `users` (batch mode), which drops its content
version triggers: they are made again here.
"""

import contextlib
import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "BEGIN UPDATE content_version SET version = version + 1; END"
SQLITE_USER_TRIGGERS = (
    f"CREATE TRIGGER IF NOT EXISTS bump_content_version_on_user_insert "
    f"AFTER INSERT ON users {BUMP}",
    f"CREATE TRIGGER IF NOT EXISTS bump_content_version_on_user_update "
    f"AFTER UPDATE OF username, created_at ON users {BUMP}",
    f"CREATE TRIGGER IF NOT EXISTS bump_content_version_on_user_delete "
    f"AFTER DELETE ON users {BUMP}",
)


def _canonical(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _email_key(email: str) -> str:
    local, _, domain = email.rpartition("@")
    domain = _canonical(domain)
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{_canonical(local)}@{domain}"


def _keys(bind: sa.Connection) -> dict[int, tuple[str, str]]:
    """id -> (username key, email key); raises naming every pair of rows that collide."""
    rows = bind.execute(sa.text("SELECT id, username, email FROM users ORDER BY id")).all()
    keys = {row.id: (_canonical(row.username), _email_key(row.email)) for row in rows}
    clashes = []
    for column, index in (("username", 0), ("email", 1)):
        owners: dict[str, list[int]] = defaultdict(list)
        for user_id, pair in keys.items():
            owners[pair[index]].append(user_id)
        clashes += [
            f"users {', '.join(map(str, ids))} share the {column} key {key!r}"
            for key, ids in owners.items()
            if len(ids) > 1
        ]
    if clashes:
        raise RuntimeError(
            "0004 stopped, nothing changed: "
            + "; ".join(clashes)
            + ". Rename or merge these accounts, then upgrade again."
        )
    return keys


def _sqlite_triggers() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in SQLITE_USER_TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError("0004 computes keys from the rows: run it online, not with --sql")
    bind = op.get_bind()
    keys = _keys(bind)  # before any change: a clash leaves the database as it was
    op.drop_index("uq_users_username_lower", table_name="users")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.add_column("users", sa.Column("username_key", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("email_key", sa.Text(), nullable=True))
    fill = sa.text("UPDATE users SET username_key = :u, email_key = :e WHERE id = :id")
    for user_id, (username_key, email_key) in keys.items():
        bind.execute(fill, {"u": username_key, "e": email_key, "id": user_id})
    with op.batch_alter_table("users") as batch:
        batch.alter_column("username_key", existing_type=sa.Text(), nullable=False)
        batch.alter_column("email_key", existing_type=sa.Text(), nullable=False)
    op.create_index("uq_users_username_key", "users", ["username_key"], unique=True)
    op.create_index("uq_users_email_key", "users", ["email_key"], unique=True)
    _sqlite_triggers()


def downgrade() -> None:
    op.drop_index("uq_users_email_key", table_name="users")
    op.drop_index("uq_users_username_key", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_key")
        batch.drop_column("username_key")
    op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    _sqlite_triggers()
