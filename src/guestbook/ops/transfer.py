"""The whole site as JSON Lines, to move it from one database to another (SQLite to
PostgreSQL, or back): `export` writes it, `import_` loads it into an empty database
migrated to the same revision.

The file: a header line (`format`, `version`, `schema`: the alembic revision, and the
tables), then one line per row, `{"table": ..., "row": {...}}`, tables in an order that
puts every row after the rows it refers to (a message before its replies), and a last
line with each table's count, so a cut file is refused rather than half loaded.

What is not moved: login sessions (members log in again: a login belongs to its
database), the live event log (numbers go on from the new database's own) and the
content version (the new database starts its own). Every other table is, so a table a
later release adds travels without a change here.

An import keeps ids, moves each PostgreSQL sequence past them (`setval`), and lets the
triggers build what they keep: the content version, and the reply and like counts,
which are imported as 0 and counted up by the triggers as the replies and likes go in
(so they equal the rows, whatever the source's said); the import checks that they do.
Password hashes are moved as they are, so passwords still work. One transaction: all
or nothing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from guestbook.config import Settings
from guestbook.db import make_engine
from guestbook.models import (
    Base,
    ContentVersion,
    Like,
    LiveEvent,
    LoginSession,
    Message,
    UTCDateTime,
)
from guestbook.ops import OpsError, schema_revision

FORMAT, VERSION = "guestbook-export", 1
NOT_MOVED = {LoginSession.__tablename__, LiveEvent.__tablename__, ContentVersion.__tablename__}
BATCH = 500
# Kept by triggers as the rows that they count go in.
COUNTED = {"reply_count": 0, "like_count": 0}


def moved_tables() -> list[Table]:
    """Every table that travels, each after the tables it refers to."""
    return [table for table in Base.metadata.sorted_tables if table.name not in NOT_MOVED]


async def export(settings: Settings, path: Path) -> dict[str, int]:
    """Write the site to `path` from one snapshot; the rows written per table."""
    engine = make_engine(settings)
    counts: dict[str, int] = {}
    draft = path.with_name(path.name + ".partial")
    try:
        async with engine.connect() as conn:
            await _snapshot(conn)
            revision = await schema_revision(conn)
            tables = moved_tables()
            with draft.open("w", encoding="utf-8") as out:
                _line(out, {"format": FORMAT, "version": VERSION, "schema": revision,
                            "tables": [table.name for table in tables]})  # fmt: skip
                for table in tables:
                    counts[table.name] = 0
                    async for row in _rows(conn, table):
                        _line(out, {"table": table.name, "row": row})
                        counts[table.name] += 1
                _line(out, {"end": True, "rows": counts})
            await conn.rollback()
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    finally:
        await engine.dispose()
    draft.replace(path)
    return counts


async def _snapshot(conn: AsyncConnection) -> None:
    """Every read of the export from one snapshot, while the site writes on."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    else:
        # pysqlite begins no transaction for a SELECT: each would read its own instant.
        await conn.exec_driver_sql("BEGIN")


async def _rows(conn: AsyncConnection, table: Table) -> AsyncIterator[dict[str, Any]]:
    order = list(table.primary_key.columns)
    if table.name == Message.__tablename__:
        order.insert(0, table.c.parent_id.is_not(None))  # messages before their replies
    result = await conn.stream(select(table).order_by(*order))
    async for row in result.mappings():
        yield {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in row.items()
        }


def _line(out: IO[str], value: dict[str, Any]) -> None:
    out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")


async def import_(settings: Settings, path: Path) -> dict[str, int]:
    """Load the export at `path` into the site's empty database; the rows per table."""
    lines = _read(path)
    header = next(lines, None)
    if not header or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise OpsError(f"{path} is not a guestbook export (version {VERSION})")
    engine = make_engine(settings)
    try:
        async with engine.begin() as conn:
            revision = await schema_revision(conn)
            if revision != header["schema"]:
                raise OpsError(
                    f"the export is of schema {header['schema']} and this database is at "
                    f"{revision}: migrate an empty database to {header['schema']} "
                    f"(guestbook db upgrade {header['schema']}) and import into it"
                )
            tables = {table.name: table for table in moved_tables()}
            await _refuse_unless_empty(conn, [*tables.values(), LoginSession.__table__])
            counts = await _load(conn, tables, lines)
            await _check_counts(conn)
            await _after_ids(conn, tables.values())
    finally:
        await engine.dispose()
    return counts


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                yield json.loads(line)
            except ValueError:
                raise OpsError(f"{path}, line {number}: not JSON") from None


async def _refuse_unless_empty(conn: AsyncConnection, tables: list[Table]) -> None:
    for table in tables:
        if await conn.scalar(select(func.count()).select_from(table)):
            raise OpsError(
                f"the database is not empty ({table.name} has rows): import into a new "
                "database, migrated with guestbook db upgrade"
            )


async def _load(
    conn: AsyncConnection, tables: dict[str, Table], lines: Iterator[dict[str, Any]]
) -> dict[str, int]:
    counts = dict.fromkeys(tables, 0)
    batch: list[dict[str, Any]] = []
    batch_table: Table | None = None
    for entry in lines:
        if entry.get("end"):
            if batch_table is not None:
                await conn.execute(insert(batch_table), batch)
            if entry.get("rows") != counts:
                raise OpsError(f"the export says it holds {entry.get('rows')}, not {counts}")
            return counts
        table = tables.get(entry.get("table", ""))
        if table is None:
            raise OpsError(
                f"the export has rows of a table this schema has not: {entry.get('table')!r}"
            )
        if batch_table is not None and (table is not batch_table or len(batch) >= BATCH):
            await conn.execute(insert(batch_table), batch)
            batch = []
        batch_table = table
        batch.append(_values(table, entry["row"]))
        counts[table.name] += 1
    raise OpsError("the export ends before its last line: a cut file (nothing was imported)")


def _values(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    values = {
        key: datetime.fromisoformat(value)
        if value is not None and isinstance(table.c[key].type, UTCDateTime)
        else value
        for key, value in row.items()
    }
    if table.name == Message.__tablename__:
        values.update(COUNTED)
    return values


async def _check_counts(conn: AsyncConnection) -> None:
    """The triggers' counts equal the rows they count (a trigger gone missing from the
    database would leave them at 0: better no import than a wrong one)."""
    reply = Message.__table__.alias("reply")
    replies = (
        select(func.count())
        .select_from(reply)
        .where(reply.c.parent_id == Message.id, reply.c.hidden_at.is_(None))
        .scalar_subquery()
    )
    likes = select(func.count()).where(Like.message_id == Message.id).scalar_subquery()
    wrong = await conn.scalar(
        select(func.count()).where((Message.reply_count != replies) | (Message.like_count != likes))
    )
    if wrong:
        raise OpsError(f"{wrong} messages' reply or like counts do not equal their rows")


async def _after_ids(conn: AsyncConnection, tables: Iterable[Table]) -> None:
    """New rows get ids past the imported ones; the live log keeps only its newest event
    (its numbers go on from there, and the imported messages are no news to a page)."""
    if conn.dialect.name == "postgresql":
        for table in tables:
            key = list(table.primary_key.columns)
            if len(key) != 1:
                continue
            sequence = await conn.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": key[0].name},
            )
            if sequence is not None:  # an id the database numbers (not a foreign key)
                last = await conn.scalar(select(func.max(key[0])))
                await conn.execute(
                    text("SELECT setval(:sequence, :value, :called)"),
                    {"sequence": sequence, "value": last or 1, "called": last is not None},
                )
    newest = select(func.max(LiveEvent.seq)).scalar_subquery()
    await conn.execute(delete(LiveEvent).where(LiveEvent.seq < newest))
