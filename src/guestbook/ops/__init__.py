"""Keeping a site for years, from the command line: consistent backups while it serves
and their restores (`backup`), and the whole site as JSON Lines, to move it between
SQLite and PostgreSQL (`transfer`). `cli` calls them; the site itself never does.

May import `config`, `models`, `db` and `lib`.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


class OpsError(Exception):
    """A refusal the operator can act on; str() is the one line to print."""


async def schema_revision(conn: AsyncConnection) -> str:
    """The database's alembic revision; OpsError if it was never migrated."""
    has_table = await conn.run_sync(lambda sync: sync.dialect.has_table(sync, "alembic_version"))
    if not has_table:
        raise OpsError(
            "the database was never migrated (no alembic_version): run guestbook db upgrade"
        )
    return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
