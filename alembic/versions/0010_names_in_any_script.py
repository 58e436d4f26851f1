"""names in any script: each name's look-alike key, unique

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Names may now be written in any script, so no two members' names may look alike:
`users.username_skeleton` holds each name's UTS #39 skeleton (ICU's confusables data,
through PyICU), unique. It is computed here in Python for every existing row, and when
two members' names look alike ("arnie" and "amie": "rn" is "m") the upgrade stops
before changing anything, naming them: rename one, then upgrade again. The function is
copied, not imported, so this revision keeps doing what it did when the app's code
changes.

On SQLite the column is added in place with `NOT NULL DEFAULT ''` (SQLite adds a NOT
NULL column only with a default), never by batch mode's copy of `users`: the app's
connections enforce foreign keys, so dropping the old copy would delete every message,
login and report by cascade. The default only ever meets a row written by hand without
its key, and then the unique index stops the second one.
"""

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import icu
import sqlalchemy as sa
from alembic import context, op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONFUSABLES = icu.SpoofChecker()


def _canonical(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _skeleton(name: str) -> str:
    first = CONFUSABLES.getSkeleton(0, _canonical(name))
    return CONFUSABLES.getSkeleton(0, _canonical(first))


def _shown(user_id: int, name: str) -> str:
    """A row as the message names it; a non-ASCII name escaped too, so a Cyrillic "а"
    cannot pass for a Latin one there either."""
    return f"{user_id} {name!r}" + ("" if name.isascii() else f" ({ascii(name)})")


def _skeletons(bind: sa.Connection) -> dict[int, str]:
    """id -> skeleton; raises naming every group of rows whose names look alike."""
    rows = bind.execute(sa.text("SELECT id, username FROM users ORDER BY id")).all()
    found = {row.id: _skeleton(row.username) for row in rows}
    owners: dict[str, list[int]] = defaultdict(list)
    for user_id, skeleton in found.items():
        owners[skeleton].append(user_id)
    names = {row.id: row.username for row in rows}
    clashes = [
        "users " + ", ".join(_shown(user_id, names[user_id]) for user_id in ids) + " look alike"
        for ids in owners.values()
        if len(ids) > 1
    ]
    if clashes:
        raise RuntimeError(
            "0010 stopped, nothing changed: "
            + "; ".join(clashes)
            + ". Rename all but one of each, then upgrade again."
        )
    return found


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError("0010 computes keys from the rows: run it online, not with --sql")
    bind = op.get_bind()
    skeletons = _skeletons(bind)  # before any change: a clash leaves the database as it was
    sqlite = bind.dialect.name == "sqlite"
    # "never": a copy of `users` would cascade-delete what refers to it (see above).
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.add_column(
            sa.Column(
                "username_skeleton",
                sa.Text(),
                nullable=not sqlite,
                server_default="" if sqlite else None,
            )
        )
    fill = sa.text("UPDATE users SET username_skeleton = :s WHERE id = :id")
    for user_id, skeleton in skeletons.items():
        bind.execute(fill, {"s": skeleton, "id": user_id})
    if not sqlite:
        op.alter_column("users", "username_skeleton", existing_type=sa.Text(), nullable=False)
    op.create_index("uq_users_username_skeleton", "users", ["username_skeleton"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_username_skeleton", table_name="users")
    # In place on SQLite too (3.35 and later), for the reason above.
    op.execute("ALTER TABLE users DROP COLUMN username_skeleton")
