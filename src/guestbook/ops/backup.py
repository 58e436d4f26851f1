"""Backups taken while the site writes, and their restores into an empty database.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies the whole file in
one step, under one read transaction: in WAL mode writers go on meanwhile, and the copy
is the database as of one instant. Every post acknowledged before the backup began was
committed before it, so it is in the copy. The copy is written beside the target and
renamed into place, so a failed backup never leaves a half file under the name.

PostgreSQL: `pg_dump --format=custom`, which reads one snapshot (a repeatable-read
transaction) while the site writes; `pg_restore` loads it into an empty database. Both
are PostgreSQL's client tools: without them on the PATH the command says so.

A restore goes into an empty database only (no tables at all): restoring over a live
site would mix two histories, and its workers' page caches would not know.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess  # nosec B404
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from guestbook.config import Settings
from guestbook.db import make_engine
from guestbook.ops import OpsError, schema_revision

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
BUSY_TIMEOUT_SECONDS = 30


def backup(settings: Settings, target: Path) -> None:
    """A consistent copy of the site's database at `target` (replaced if it exists)."""
    draft = target.with_name(target.name + ".partial")
    draft.unlink(missing_ok=True)
    try:
        if settings.is_sqlite:
            _sqlite_copy(_sqlite_path(settings), draft, journal="DELETE")
        else:
            _run_pg("pg_dump", settings, ["--format=custom", "--file", str(draft)])
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    os.replace(draft, target)


def restore(settings: Settings, source: Path) -> str:
    """Load the backup at `source` into the site's database, which must be empty;
    the restored schema's revision."""
    kind = _kind(source)
    wanted = "sqlite" if settings.is_sqlite else "postgresql"
    if kind != wanted:
        raise OpsError(
            f"{source} is a {kind} backup and this database is {wanted}: to move between "
            "the two, use guestbook export and guestbook import"
        )
    if settings.is_sqlite:
        _sqlite_path(settings).parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(_refuse_unless_empty(settings))
    if settings.is_sqlite:
        _sqlite_copy(source, _sqlite_path(settings), journal="WAL")
    else:
        _run_pg(
            "pg_restore",
            settings,
            [
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                str(source),
            ],
        )
    return asyncio.run(_revision(settings))


def _sqlite_path(settings: Settings) -> Path:
    return Path(make_url(settings.database_url).database or "")


def _sqlite_copy(source: Path, target: Path, journal: str) -> None:
    """`source` copied page by page in one step (one read transaction: one instant),
    checked, and left in `journal` mode (a backup is one self-contained file)."""
    reader = sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
            writer.execute(f"PRAGMA journal_mode={journal}")
            (verdict,) = writer.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise OpsError(f"the copy at {target} fails SQLite's check: {verdict}")
        finally:
            writer.close()
    finally:
        reader.close()


def _kind(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise OpsError(f"{path} is neither a SQLite backup nor a pg_dump archive")


async def _refuse_unless_empty(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: sync.dialect.get_table_names(sync))
    finally:
        await engine.dispose()
    if tables:
        raise OpsError(
            f"the database is not empty ({len(tables)} tables): restore into a new, empty "
            "database, then point GUESTBOOK_DATABASE_URL at it"
        )


async def _revision(settings: Settings) -> str:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            return await schema_revision(conn)
    finally:
        await engine.dispose()


def _run_pg(tool: str, settings: Settings, arguments: list[str]) -> None:
    """Run PostgreSQL's `tool` on the site's database: the password in the environment
    (never on a command line others can read), the tool's own message if it fails."""
    binary = shutil.which(tool)
    if binary is None:
        raise OpsError(
            f"{tool} is not on the PATH: install PostgreSQL's client tools "
            "(apt-get install postgresql-client), of the server's major version or newer"
        )
    url: URL = make_url(settings.database_url)
    env = {**os.environ, "PGCONNECT_TIMEOUT": str(int(settings.db.connect_timeout) or 5)}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    target = [
        f"--host={url.host or 'localhost'}",
        f"--port={url.port or 5432}",
        f"--dbname={url.database or ''}",
    ]
    if url.username:
        target.append(f"--username={url.username}")
    done = subprocess.run(  # noqa: S603 (a binary found on the PATH, arguments of ours)
        [binary, *target, *arguments], env=env, capture_output=True, text=True
    )
    if done.returncode:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no message"]
        raise OpsError(f"{tool} failed ({done.returncode}): {lines[0]}")
