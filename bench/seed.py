"""A seeded SQLite database for the benchmark: N users and M messages.

The schema comes from the real migrations (`guestbook db upgrade`), so the tables and
indexes are the ones production has; the rows go in through sqlite3 directly, which
fills a million messages in seconds. Every user shares one real argon2 hash (made with
the app's default cost), so logging in costs what it costs in production.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher

from guestbook.cli import db_upgrade
from guestbook.config import Settings
from guestbook.messages.pagination import Cursor

PASSWORD = "bench password 1"
READER = "bench_reader"  # logs in to view the main page, and for the login scenario
WRITER = "bench_writer"  # posts in the POST scenario
PROFILED = "user00001"  # whose profile page is measured
PAGE = 500  # the deep page measured through the cursor
# Words for message bodies, joined at random lengths.
WORDS = "guest book hello from the lecture about cookies sessions g async quart flask request"
WORDS += " hook relationship writer message page cursor coffee rain seoul busan spring"
# SQLAlchemy's storage format for DateTime on SQLite (naive UTC, see models.UTCDateTime).
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Seeded:
    path: Path
    users: int
    messages: int
    page_cursor: str | None  # `?before=` of page PAGE (or the last); None: one page


def seed(path: Path, users: int, messages: int, page_size: int, rng_seed: int = 8) -> Seeded:
    """Create `path` with the schema and the rows; `users` counts the two bench users."""
    # Imported here: bench.instructions' child imports this module beside an older
    # revision's code (--against), which may not have it.
    from guestbook.models import skeleton

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    settings = Settings(env="testing", database_url=f"sqlite+aiosqlite:///{path}")
    db_upgrade(settings.checked())
    hasher = PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib
    )
    password_hash = hasher.hash(PASSWORD)
    rng = random.Random(rng_seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    names = [READER, WRITER] + [f"user{i:05d}" for i in range(1, max(users, 3) - 1)]
    con = sqlite3.connect(path)
    try:
        with con:
            con.executemany(
                "INSERT INTO users (id, username, email, username_key, username_skeleton, "
                "email_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    # ASCII names: their canonical keys are their lower case.
                    (
                        i,
                        name,
                        f"{name}@example.com",
                        name.lower(),
                        skeleton(name),
                        f"{name.lower()}@example.com",
                        password_hash,
                        _stamp(start),
                    )
                    for i, name in enumerate(names, start=1)
                ),
            )
            con.executemany(
                "INSERT INTO messages (id, body, created_at, updated_at, writer_id) "
                "VALUES (?, ?, ?, ?, ?)",
                _messages(rng, messages, len(names), start),
            )
        cursor = _page_cursor(con, messages, page_size)
    finally:
        con.close()
    return Seeded(path, len(names), messages, cursor)


def _messages(rng: random.Random, count: int, users: int, start: datetime):
    when = start
    for i in range(1, count + 1):
        # One message in ten shares its second with the one before: pagination must
        # break such ties by id.
        if i % 10:
            when += timedelta(seconds=rng.randint(1, 90), microseconds=rng.randint(0, 999_999))
        body = " ".join(rng.choices(WORDS.split(), k=rng.randint(4, 40))).capitalize() + "."
        # The reader wrote a few of the newest messages, so their view shows Edit/Delete.
        writer = 1 if count - i in (2, 7, 15) else rng.randint(3, max(users, 3))
        yield i, body, _stamp(when), None, writer


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime(SQLITE_TIME)


def _page_cursor(con: sqlite3.Connection, messages: int, page_size: int) -> str | None:
    """The cursor a visitor reaches by clicking "Older" PAGE - 1 times (or as far as
    the data goes); None when everything fits on the first page."""
    last_page = max(1, -(-messages // page_size))
    skipped = (min(PAGE, last_page) - 1) * page_size
    if skipped == 0:
        return None
    created, ident = con.execute(
        "SELECT created_at, id FROM messages ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
        (skipped - 1,),
    ).fetchone()
    return Cursor(datetime.strptime(created, SQLITE_TIME).replace(tzinfo=UTC), ident).encode()


def count_messages(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        con.close()
