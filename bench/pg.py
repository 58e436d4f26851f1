"""PostgreSQL copies of the seeded data, for `python -m bench --database postgres`.

The seeded SQLite file is copied once into a database made by the real migrations,
then each side gets its own database cloned from it (`CREATE DATABASE ... TEMPLATE`).
All of them are dropped at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from guestbook.cli import db_upgrade
from guestbook.config import Settings
from guestbook.db.triggers import drop_content_version_ddl

ADMIN_URL = os.environ.get(
    "GUESTBOOK_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
COPIED = ("users", "messages")  # every column the seeded file has
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def url(name: str, driver: str = "postgresql") -> str:
    """The URL of database `name` on the bench's server, for `driver`."""
    base = ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{name}"


def _admin(statement: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def _aware(value: object) -> object:
    if isinstance(value, str) and len(value) == 26 and value[4] == "-":
        return datetime.strptime(value, SQLITE_TIME).replace(tzinfo=UTC)
    return value


@contextlib.contextmanager
def databases(seeded: Path, stamp: str, sides: list[str]) -> Iterator[dict[str, str]]:
    """A database per side holding `seeded`'s rows; psycopg URLs by side name."""
    template = f"gb_bench_{stamp}_seed"
    names = {side: f"gb_bench_{stamp}_{side}" for side in sides}
    _admin(f'CREATE DATABASE "{template}"')
    try:
        db_upgrade(Settings(env="testing", database_url=url(template, "postgresql+asyncpg")))
        _copy_rows(seeded, url(template))
        for name in names.values():
            _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # The content-version triggers serve our cache; the baselines have none to pay for.
        for side, name in names.items():
            if side in ("flask", "simplest"):
                with psycopg.connect(url(name), autocommit=True) as conn:
                    for statement in drop_content_version_ddl("postgresql"):
                        conn.execute(statement)  # type: ignore[arg-type]
        yield {side: url(name) for side, name in names.items()}
    finally:
        for name in [*names.values(), template]:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy_rows(seeded: Path, target: str) -> None:
    source = sqlite3.connect(seeded)
    try:
        with psycopg.connect(target) as conn:
            for table in COPIED:
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                names = ", ".join(columns)
                with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[arg-type]
                    for row in source.execute(f"SELECT {names} FROM {table}"):  # noqa: S608
                        copy.write_row([_aware(value) for value in row])
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # type: ignore[arg-type]
                    f"(SELECT max(id) FROM {table}))"
                )
            conn.execute("ANALYZE")
    finally:
        source.close()


def count_messages(database: str) -> int:
    with psycopg.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]  # type: ignore[index]


def messages_starting(database: str, prefix: str) -> dict[str, int]:
    """Body -> id of every message whose body starts with `prefix` (a run's own posts)."""
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT body, id FROM messages WHERE starts_with(body, %s)", (prefix,)
        ).fetchall()
    return dict(rows)
