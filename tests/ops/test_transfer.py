"""Moving a site between SQLite and PostgreSQL with `guestbook export` and `guestbook
import`: SQLite to PostgreSQL and back, every table that matters carried with its ids
(a deleted member's held name and pseudonymized audit entries too), the counts the
triggers keep equal to their rows, the sequences past the ids, the passwords still
working, and a walk through each imported site."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestbook.ops.transfer import NOT_MOVED, moved_tables
from servers import GUESTBOOK, LiveServer, child_env, migrate
from support import (
    MIGRATION_HEAD,
    PASSWORD,
    Visitor,
    assert_name_held,
    delete_account,
    new_ip,
    new_name,
    own_database,
    post_form,
    production_env,
    signup,
)


def site_env(url: str) -> dict[str, str]:
    return production_env(url, GUESTBOOK_ALLOW_SQLITE="1")


def guestbook(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GUESTBOOK, *args], env=child_env(env), input=stdin, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def rows(path: Path) -> dict[str, list[dict]]:
    """An export's rows by table; its header and last line checked."""
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header, *body, end = lines
    assert header["format"] == "guestbook-export" and header["schema"] == MIGRATION_HEAD
    tables: dict[str, list[dict]] = {name: [] for name in header["tables"]}
    for line in body:
        tables[line["table"]].append(line["row"])
    assert end == {"end": True, "rows": {name: len(found) for name, found in tables.items()}}
    return tables


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'site.sqlite3'}"


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with own_database(tmp_path, "moved") as url:  # the PostgreSQL pass: a database
        yield url


async def walk(server: LiveServer, name: str, history: list[str]) -> None:
    """Log in with the old password, post, and see the history with the new post."""
    async with Visitor(new_ip()) as member:
        form = {"username": name, "password": PASSWORD}
        assert (await post_form(member, f"{server.url}/auth/login", form)).status_code == 302
        body = f"after the move {uuid.uuid4().hex[:8]}"
        posted = await post_form(
            member, f"{server.url}/messages", {"body": body}, page=f"{server.url}/"
        )
        assert posted.status_code == 302
        profile = (await member.get(f"{server.url}/users/{name}")).text
        for text in [*history, body]:
            assert text in profile
        history.append(body)


LEAVER = "leaver"


async def leave(base: str, moderator: Visitor) -> None:
    """A member whom the moderator blocked once deletes their account: their name is
    held back, their audit entries are pseudonymized."""
    async with Visitor(new_ip()) as leaver:
        await signup(leaver, base, LEAVER)
        for action in ("block", "unblock"):
            await post_form(moderator, f"{base}/users/{LEAVER}/{action}", {}, page=f"{base}/")
        login = {"username": LEAVER, "password": PASSWORD}
        assert (await post_form(leaver, f"{base}/auth/login", login)).status_code == 302
        await delete_account(leaver, base)


@pytest.mark.postgres_only
async def test_sqlite_to_postgresql_and_back(
    tmp_path: Path, sqlite_url: str, postgres_url: str
) -> None:
    sqlite_env, pg_env = site_env(sqlite_url), site_env(postgres_url)
    migrate(sqlite_env)
    moderator, writer, reader = f"mod{uuid.uuid4().hex[:6]}", new_name(), new_name()
    made = guestbook(
        sqlite_env, "create-user", moderator, f"{moderator}@example.com", "--admin",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    history = ["the first message", "the second message"]
    with LiveServer(tmp_path, sqlite_env) as site:
        base = site.url
        async with Visitor(new_ip()) as w, Visitor(new_ip()) as r, Visitor(new_ip()) as mod:
            await signup(w, base, writer)
            await signup(r, base, reader)
            for body in history:
                await post_form(w, f"{base}/messages", {"body": body}, page=f"{base}/")
            first, second = sorted(
                map(int, re.findall(r'id="m(\d+)"', (await w.get(f"{base}/")).text))
            )
            thread = f"{base}/messages/{first}"
            await post_form(r, f"{thread}/replies", {"body": "a reply"}, page=thread)
            await post_form(r, f"{thread}/like", {}, page=thread)
            await post_form(w, f"{thread}/like", {}, page=thread)
            await post_form(r, f"{base}/messages/{second}/report", {"reason": "why"})
            await post_form(
                mod, f"{base}/auth/login", {"username": moderator, "password": PASSWORD}
            )
            await post_form(mod, f"{base}/messages/{second}/hide", {}, page=f"{base}/")
            await leave(base, mod)
    history.remove("the second message")  # hidden: only its writer sees it, marked

    first_file, second_file = tmp_path / "from-sqlite.jsonl", tmp_path / "from-pg.jsonl"
    exported = guestbook(sqlite_env, "export", str(first_file))
    assert exported.returncode == 0, exported.stderr
    moved = rows(first_file)
    assert set(moved) == {table.name for table in moved_tables()}
    assert not NOT_MOVED & set(moved)
    assert {"users", "messages", "likes", "reports", "audit_log", "outbox", "reply_mail"} <= set(
        moved
    )
    counted = {m["id"]: (m["reply_count"], m["like_count"]) for m in moved["messages"]}
    assert counted[first] == (1, 2)
    assert len(moved["users"]) == 3 and len(moved["audit_log"]) == 4  # promote, hide, leaver's
    [released] = moved["released_names"]
    assert released["username_key"] == LEAVER and released["released_at"]
    targets = [entry["target"] for entry in moved["audit_log"]]
    assert not any(LEAVER in target for target in targets)
    pseudonym = re.compile(r"member \(deleted [0-9a-f]{12}\)")
    assert sum(pseudonym.fullmatch(target) is not None for target in targets) == 2

    migrate(pg_env)
    imported = guestbook(pg_env, "import", str(first_file))
    assert imported.returncode == 0, imported.stderr
    said = imported.stdout
    assert said.startswith("imported ") and "3 users" in said and "3 messages" in said, said
    again = guestbook(pg_env, "import", str(first_file))
    assert again.returncode == 1 and "the database is not empty" in again.stderr
    with LiveServer(tmp_path, pg_env) as pg_site:
        await walk(pg_site, writer, history)
        await assert_name_held(pg_site.url, LEAVER)  # held here too
        page = (await Visitor().get(f"{pg_site.url}/messages/{first}")).text
        assert "a reply" in page

    assert guestbook(pg_env, "export", str(second_file)).returncode == 0
    back = rows(second_file)
    new = [m for m in back["messages"] if m["id"] not in counted]
    assert len(new) == 1 and new[0]["id"] > max(counted)  # the sequence was set past them
    # Ids, times, counts: all as they were.
    assert [m for m in back["messages"] if m["id"] in counted] == moved["messages"]
    assert {t: r for t, r in back.items() if t != "messages"} == {
        t: r for t, r in moved.items() if t != "messages"
    }

    home = tmp_path / "home-again.sqlite3"
    home_env = site_env(f"sqlite+aiosqlite:///{home}")
    migrate(home_env)
    assert guestbook(home_env, "import", str(second_file)).returncode == 0
    with LiveServer(tmp_path, home_env) as home_site:
        await walk(home_site, writer, history)


def test_an_export_of_another_schema_or_cut_short_is_refused(tmp_path: Path) -> None:
    with own_database(tmp_path, "source") as source, own_database(tmp_path, "target") as target:
        env, target_env = site_env(source), site_env(target)
        migrate(env)
        migrate(target_env)
        made = guestbook(
            env,
            "create-user",
            "alice",
            "alice@example.com",
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert made.returncode == 0, made.stderr
        export = tmp_path / "site.jsonl"
        assert guestbook(env, "export", str(export)).returncode == 0
        header, *rest = export.read_text().splitlines()

        older = tmp_path / "older.jsonl"
        older.write_text("\n".join([header.replace(f'"{MIGRATION_HEAD}"', '"0009"'), *rest]) + "\n")
        refused = guestbook(target_env, "import", str(older))
        assert refused.returncode == 1
        assert (
            f"the export is of schema 0009 and this database is at {MIGRATION_HEAD}"
            in refused.stderr
        )

        cut = tmp_path / "cut.jsonl"
        cut.write_text("\n".join([header, *rest[:-1]]) + "\n")
        refused = guestbook(target_env, "import", str(cut))
        assert refused.returncode == 1
        assert "a cut file (nothing was imported)" in refused.stderr
        # All or nothing: the cut file left no row behind, so the whole one goes in.
        assert guestbook(target_env, "import", str(export)).returncode == 0
