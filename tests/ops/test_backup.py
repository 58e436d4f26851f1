"""`guestbook backup` while the site writes, and `guestbook restore` into an empty
database: every post acknowledged before the backup began is in the restored copy, the
restored site serves and logs in (and still holds back a deleted member's name), and a
restore over a database with tables is refused.
On this pass's database: SQLite's online backup API, or pg_dump and pg_restore."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from guestbook.models import Message
from servers import GUESTBOOK, LiveServer, child_env, migrate
from support import (
    MIGRATION_HEAD,
    ON_POSTGRES,
    PASSWORD,
    Visitor,
    assert_name_held,
    csrf_from,
    delete_account,
    new_ip,
    new_name,
    own_database,
    post_form,
    production_env,
    signup,
)

WRITERS = 4


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The site's database, and an empty one to restore into."""
    with ExitStack() as stack:
        yield (
            stack.enter_context(own_database(tmp_path, "site")),
            stack.enter_context(own_database(tmp_path, "restored")),
        )


def site_env(url: str) -> dict[str, str]:
    return production_env(url, GUESTBOOK_ALLOW_SQLITE="1", GUESTBOOK_POST_LIMIT="100000")


def guestbook(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GUESTBOOK, *args], env=child_env(env), capture_output=True, text=True, timeout=120
    )


async def keep_posting(
    base: str, name: str, acknowledged: list[tuple[str, float]], stop: asyncio.Event
) -> None:
    """Post until `stop`; each post answered "posted" goes into `acknowledged` with the
    moment its answer came."""
    async with Visitor(new_ip()) as writer:
        await signup(writer, base, name)
        token = csrf_from((await writer.get(f"{base}/")).text)
        n = 0
        while not stop.is_set():
            body = f"{name} post {n} {uuid.uuid4().hex[:6]}"
            posted = await writer.post(f"{base}/messages", data={"body": body, "csrf_token": token})
            if posted.status_code == 302:
                acknowledged.append((body, time.monotonic()))
            n += 1


LEAVER = "leaver"


async def leave(base: str) -> None:
    """A member who deletes their account: their name is held back from then."""
    async with Visitor(new_ip()) as leaver:
        await signup(leaver, base, LEAVER)
        await delete_account(leaver, base)


async def bodies(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.scalars(select(Message.body)))
    finally:
        await engine.dispose()


async def test_a_backup_taken_while_posting_restores_every_acknowledged_post(
    tmp_path: Path, databases: tuple[str, str]
) -> None:
    site, empty = databases
    env = site_env(site)
    migrate(env)
    backup_file = tmp_path / "site.backup"
    acknowledged: list[tuple[str, float]] = []
    names = [new_name() for _ in range(WRITERS)]
    with LiveServer(tmp_path, env) as server:
        await leave(server.url)
        stop = asyncio.Event()
        writers = [
            asyncio.create_task(keep_posting(server.url, name, acknowledged, stop))
            for name in names
        ]
        while len(acknowledged) < 20:  # the site is busy writing
            await asyncio.sleep(0.05)
        began = time.monotonic()
        backed_up = await asyncio.to_thread(guestbook, env, "backup", str(backup_file))
        during = sum(1 for _, at in acknowledged if at > began)
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*writers)
    assert backed_up.returncode == 0, backed_up.stderr
    assert backed_up.stdout == f"backed up to {backup_file}\n"
    assert during > 0, "no post was answered while the backup ran: nothing was tested"

    restored = site_env(empty)
    done = guestbook(restored, "restore", str(backup_file))
    assert done.returncode == 0, done.stderr
    assert f"schema at {MIGRATION_HEAD}" in done.stdout
    before = {body for body, at in acknowledged if at < began}
    in_copy = await bodies(empty)
    assert before <= in_copy, f"{len(before - in_copy)} acknowledged posts are missing"
    assert in_copy <= {body for body, _ in acknowledged}  # nothing invented

    # The restored site serves, and its members log in with their passwords.
    with LiveServer(tmp_path, restored) as copy:
        async with Visitor(new_ip()) as member:
            form = {"username": names[0], "password": PASSWORD}
            assert (await post_form(member, f"{copy.url}/auth/login", form)).status_code == 302
            page = (await member.get(f"{copy.url}/users/{names[0]}")).text
            assert any(body in page for body in in_copy if body.startswith(f"{names[0]} "))
        await assert_name_held(copy.url, LEAVER)

    again = guestbook(restored, "restore", str(backup_file))
    assert again.returncode == 1
    assert "the database is not empty" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


@pytest.mark.postgres_only
def test_without_pg_dump_on_the_path_the_backup_says_so(tmp_path: Path, databases) -> None:
    env = {**site_env(databases[0]), "PATH": os.path.dirname(sys.executable)}
    done = guestbook(env, "backup", str(tmp_path / "x.backup"))
    assert done.returncode == 1
    assert done.stderr.startswith("guestbook: pg_dump is not on the PATH: install PostgreSQL")
    assert not (tmp_path / "x.backup").exists()


def test_a_backup_of_the_other_kind_is_refused_with_the_way_to_move(tmp_path: Path) -> None:
    other = tmp_path / "other.backup"
    other.write_bytes(b"SQLite format 3\x00" if ON_POSTGRES else b"PGDMP...")
    with own_database(tmp_path, "target") as url:
        done = guestbook(site_env(url), "restore", str(other))
    assert done.returncode == 1
    assert "use guestbook export and guestbook import" in done.stderr
