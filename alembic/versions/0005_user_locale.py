"""the member's language

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

A plain ADD COLUMN / DROP COLUMN, not a batch copy of `users`: on SQLite a batch
migration would drop the content-version triggers on that table (see 0003).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "locale")
