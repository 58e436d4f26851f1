"""the content version, counted by triggers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

On SQLite a later batch migration of `messages` or `users` copies the table into a new
one, without these triggers: such a migration must run `content_version_ddl` again
(tests/test_migrations.py checks that writes at head still bump the version).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from guestbook.models import content_version_ddl, drop_content_version_ddl

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_version")),
    )
    for statement in content_version_ddl(op.get_context().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_content_version_ddl(op.get_context().dialect.name):
        op.execute(statement)
    op.drop_table("content_version")
