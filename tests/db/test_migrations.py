"""Alembic: head -> base -> head works, and the migrated schema is the models' schema.

Each test migrates a database of its own: a fresh SQLite file, or (in the PostgreSQL
pass) a fresh PostgreSQL database dropped afterwards. Sync tests on purpose: alembic's
env.py runs its own event loop, as it does under `guestbook db upgrade`.
"""

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from guestbook.cli import _alembic_config
from guestbook.config import Settings
from guestbook.models import Base, skeleton
from support import ROOT, own_database


@pytest.fixture
def migrated_url(tmp_path: Path) -> Iterator[str]:
    with own_database(tmp_path, "migrate") as url:
        yield url


def _config(url: str, tmp_path: Path):  # noqa: ANN202
    settings = Settings(env="testing", database_url=url, instance_path=tmp_path).checked()
    config = _alembic_config(settings)
    config.attributes["configure_logging"] = False
    return config


def _inspect(url: str, probe):  # noqa: ANN001, ANN202
    async def run():  # noqa: ANN202
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(probe)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _schema_diff(sync_conn):  # noqa: ANN001, ANN202
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _tables(sync_conn) -> set[str]:  # noqa: ANN001
    return set(inspect(sync_conn).get_table_names())


@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_upgrade_downgrade_upgrade_matches_the_models(migrated_url: str, tmp_path: Path) -> None:
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert _inspect(migrated_url, _tables) <= {"alembic_version"}
    command.upgrade(config, "head")

    assert _inspect(migrated_url, _tables) >= {"users", "messages", "login_sessions"}
    assert _inspect(migrated_url, _schema_diff) == []


INSERT_0003 = text(
    "INSERT INTO users (username, email, password_hash, created_at) "
    "VALUES (:u, :e, 'x', CURRENT_TIMESTAMP)"
)


INSERT_0004 = text(
    "INSERT INTO users (username, email, username_key, email_key, password_hash, created_at) "
    "VALUES (:u, :e, :uk, :ek, 'x', CURRENT_TIMESTAMP)"
)
# The names here have no look-alike letters: each one's skeleton is its key.
INSERT_HEAD = text(
    "INSERT INTO users (username, email, username_key, username_skeleton, email_key, "
    "password_hash, created_at) VALUES (:u, :e, :uk, :uk, :ek, 'x', CURRENT_TIMESTAMP)"
)


def _run(url: str, statement, rows: list[dict]) -> None:  # noqa: ANN001
    def write(sync_conn) -> None:  # noqa: ANN001
        for row in rows:
            sync_conn.execute(statement, row)
        sync_conn.commit()

    _inspect(url, write)


def test_0004_fills_the_keys_and_stops_on_colliding_rows_naming_them(
    migrated_url: str, tmp_path: Path
) -> None:
    """Rows that lower() kept apart (on both databases) but the canonical keys do not:
    the upgrade names them and changes nothing; once fixed it fills every key."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "0003")
    _run(
        migrated_url,
        INSERT_0003,
        [
            {"u": "hans", "e": "stra\u00dfe@example.com"},
            {"u": "fritz", "e": "STRASSE@Example.com"},
            {"u": "kate", "e": "kate@example.com"},
            {"u": "\uff4b\uff41\uff54\uff45", "e": "other@example.com"},  # fullwidth
        ],
    )
    with pytest.raises(RuntimeError) as stopped:
        command.upgrade(config, "head")
    message = str(stopped.value)
    assert "users 1, 2 share the email key 'strasse@example.com'" in message
    assert "users 3, 4 share the username key 'kate'" in message
    version = _inspect(
        migrated_url, lambda c: c.scalar(text("SELECT version_num FROM alembic_version"))
    )
    assert version == "0003"
    columns = _inspect(
        migrated_url, lambda c: {col["name"] for col in inspect(c).get_columns("users")}
    )
    assert "username_key" not in columns  # nothing half-done

    _run(migrated_url, text("DELETE FROM users WHERE id IN (2, 4)"), [{}])
    command.upgrade(config, "head")
    keys = _inspect(
        migrated_url,
        lambda c: c.execute(text("SELECT username_key, email_key FROM users ORDER BY id")).all(),
    )
    assert [tuple(row) for row in keys] == [
        ("hans", "strasse@example.com"),
        ("kate", "kate@example.com"),
    ]


def test_migrated_keys_are_unique(migrated_url: str, tmp_path: Path) -> None:
    command.upgrade(_config(migrated_url, tmp_path), "head")
    insert = INSERT_HEAD

    def probe(sync_conn) -> list[bool]:  # noqa: ANN001
        results = []
        sync_conn.execute(
            insert,
            {"u": "Alice", "e": "alice@example.com", "uk": "alice", "ek": "alice@example.com"},
        )
        for row in (
            {"u": "ALICE", "e": "other@example.com", "uk": "alice", "ek": "other@example.com"},
            {"u": "bob", "e": "ALICE@example.com", "uk": "bob", "ek": "alice@example.com"},
        ):
            nested = sync_conn.begin_nested()
            try:
                sync_conn.execute(insert, row)
                results.append(True)
            except Exception:  # IntegrityError from either driver
                results.append(False)
            nested.rollback()
        return results

    assert _inspect(migrated_url, probe) == [False, False]


SAY_HELLO = text(
    "INSERT INTO messages (body, created_at, writer_id) "
    "SELECT 'hello', CURRENT_TIMESTAMP, id FROM users"
)


def test_migrated_writes_bump_the_content_version_and_downgrade_removes_the_triggers(
    migrated_url: str, tmp_path: Path
) -> None:
    """The triggers come from the migration too, not only from `create_all`; and going
    back leaves none behind (a trigger naming a dropped table breaks every write)."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "head")
    version = text("SELECT version FROM content_version")

    def write(sync_conn, keys: bool = True) -> None:  # noqa: ANN001
        alice = {"u": "alice", "e": "alice@example.com"}
        if keys:
            sync_conn.execute(INSERT_HEAD, {**alice, "uk": "alice", "ek": "alice@example.com"})
        else:
            sync_conn.execute(INSERT_0003, alice)
        sync_conn.execute(SAY_HELLO)
        sync_conn.execute(text("UPDATE users SET username = 'alicia'"))
        sync_conn.commit()

    def probe(sync_conn) -> int:  # noqa: ANN001
        start = sync_conn.scalar(version)
        write(sync_conn)
        return sync_conn.scalar(version) - start

    assert _inspect(migrated_url, probe) == 3  # the signup, the message, the rename
    command.downgrade(config, "0002")
    assert "content_version" not in _inspect(migrated_url, _tables)

    def messages_after_downgrade(sync_conn) -> int:  # noqa: ANN001
        sync_conn.execute(text("DELETE FROM messages"))
        sync_conn.execute(text("DELETE FROM users"))
        write(sync_conn, keys=False)
        return sync_conn.scalar(text("SELECT count(*) FROM messages"))

    assert _inspect(migrated_url, messages_after_downgrade) == 1


def test_migrated_moderation_triggers_and_their_downgrade(migrated_url: str, tmp_path: Path):
    """At head: a block and a hide bump the content version, the audit log refuses
    UPDATE and DELETE. Back at 0005: the columns and tables are gone, writes still work."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "head")
    version = text("SELECT version FROM content_version")

    def probe(sync_conn) -> tuple[int, list[bool]]:  # noqa: ANN001
        alice = {"u": "alice", "e": "alice@example.com"}
        sync_conn.execute(INSERT_HEAD, {**alice, "uk": "alice", "ek": "alice@example.com"})
        sync_conn.execute(SAY_HELLO)
        sync_conn.execute(
            text(
                "INSERT INTO audit_log (created_at, actor, action, target, reason) "
                "VALUES (CURRENT_TIMESTAMP, 'mod', 'block', 'member alice', '')"
            )
        )
        sync_conn.commit()
        start = sync_conn.scalar(version)
        sync_conn.execute(text("UPDATE users SET blocked_at = CURRENT_TIMESTAMP"))
        sync_conn.execute(text("UPDATE messages SET hidden_at = CURRENT_TIMESTAMP"))
        sync_conn.commit()
        bumped = sync_conn.scalar(version) - start
        refused = []
        for statement in ("UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"):
            nested = sync_conn.begin_nested()
            try:
                sync_conn.execute(text(statement))
                refused.append(False)
            except Exception as exc:  # the trigger's error, from either driver
                refused.append("append-only" in str(exc))
            nested.rollback()
        return bumped, refused

    assert _inspect(migrated_url, probe) == (2, [True, True])

    command.downgrade(config, "0005")
    assert not {"reports", "audit_log"} & _inspect(migrated_url, _tables)

    def columns(sync_conn) -> set[str]:  # noqa: ANN001
        found = inspect(sync_conn)
        return {c["name"] for t in ("users", "messages") for c in found.get_columns(t)}

    assert not {"role", "blocked_at", "hidden_at", "hidden_by"} & _inspect(migrated_url, columns)

    def write_after_downgrade(sync_conn) -> int:  # noqa: ANN001
        start = sync_conn.scalar(version)
        sync_conn.execute(text("UPDATE messages SET body = 'edited'"))
        sync_conn.execute(text("UPDATE users SET username = 'alicia'"))
        sync_conn.commit()
        return sync_conn.scalar(version) - start

    assert _inspect(migrated_url, write_after_downgrade) == 2


@pytest.mark.parametrize(
    "migration",
    sorted((ROOT / "alembic" / "versions").glob("*.py")),
    ids=lambda path: path.stem,
)
def test_a_migration_holds_its_own_ddl(migration: Path) -> None:
    # A migration that imported the app's models or DDL would change what it does
    # whenever the app changes; what it did on its day must stay what it does.
    source = migration.read_text()
    assert "from guestbook" not in source and "import guestbook" not in source


def test_migrated_login_and_account_triggers_and_their_downgrade(migrated_url: str, tmp_path):
    """At head: ending a login, any change to it but a touch forward, and an account
    change bump the logins version (workers keep logins under it), never the content
    version. Back at 0007: the column is gone."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "head")
    version = text("SELECT logins * 1000 + version FROM content_version")
    alice = {"u": "alice", "e": "alice@example.com", "uk": "alice", "ek": "alice@example.com"}

    def bumps(sync_conn) -> list[int]:  # noqa: ANN001
        if not sync_conn.scalar(text("SELECT count(*) FROM users")):
            sync_conn.execute(INSERT_HEAD, alice)
        sync_conn.execute(
            text(
                "INSERT INTO login_sessions (token_hash, user_id, created_at, last_seen_at, "
                "remember, user_agent, ip) SELECT 'h', id, :at, :at, false, '', '' FROM users"
            ),
            {"at": datetime(2026, 1, 1, 12)},
        )
        sync_conn.commit()
        seen = []
        for statement, at in (
            ("UPDATE login_sessions SET last_seen_at = :at", datetime(2026, 1, 1, 13)),  # touch
            ("UPDATE login_sessions SET last_seen_at = :at", datetime(2026, 1, 1, 11)),
            ("UPDATE users SET password_hash = 'y'", None),
            ("DELETE FROM login_sessions", None),
        ):
            start = sync_conn.scalar(version)
            sync_conn.execute(text(statement), {"at": at} if at else {})
            sync_conn.commit()
            seen.append(sync_conn.scalar(version) - start)
        return seen

    assert _inspect(migrated_url, bumps) == [0, 1000, 1000, 1000]
    command.downgrade(config, "0007")

    def columns(sync_conn) -> set[str]:  # noqa: ANN001
        return {c["name"] for c in inspect(sync_conn).get_columns("content_version")}

    assert _inspect(migrated_url, columns) == {"id", "version"}
    version = text("SELECT version FROM content_version")
    assert _inspect(migrated_url, bumps) == [0, 0, 0, 0]


def test_0011_keeps_reports_counts_replies_and_goes_back_cleanly(
    migrated_url: str, tmp_path: Path
) -> None:
    """SQLite copies `messages` both ways: its reports survive, and its triggers work
    after (counts, live events, versions);
    going back drops the replies and leaves the 0010 triggers working."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "0010")
    report = text(
        "INSERT INTO reports (message_id, reporter_id, reason, created_at) "
        "SELECT id, writer_id, 'rude', CURRENT_TIMESTAMP FROM messages"
    )

    def before(sync_conn) -> None:  # noqa: ANN001
        alice = {"u": "alice", "e": "alice@example.com", "uk": "alice", "ek": "alice@example.com"}
        sync_conn.execute(INSERT_HEAD, alice)
        sync_conn.execute(SAY_HELLO)
        sync_conn.execute(report)
        sync_conn.commit()

    _inspect(migrated_url, before)
    command.upgrade(config, "head")
    count = text("SELECT count(*) FROM reports")

    def at_head(sync_conn) -> tuple[int, int, int, int | None]:  # noqa: ANN001
        sync_conn.execute(
            text(
                "INSERT INTO messages (body, created_at, writer_id, parent_id) "
                "SELECT 'a reply', CURRENT_TIMESTAMP, writer_id, id FROM messages"
            )
        )
        sync_conn.execute(
            text(
                "INSERT INTO likes (message_id, user_id, created_at) "
                "SELECT id, writer_id, CURRENT_TIMESTAMP FROM messages WHERE parent_id IS NULL"
            )
        )
        sync_conn.commit()
        replies, likes = sync_conn.execute(
            text("SELECT reply_count, like_count FROM messages WHERE parent_id IS NULL")
        ).one()
        parent = sync_conn.scalar(text("SELECT parent_id FROM live_events ORDER BY seq DESC"))
        return sync_conn.scalar(count), replies, likes, parent

    assert _inspect(migrated_url, at_head) == (1, 1, 1, None)  # the last event: the like's
    command.downgrade(config, "0009")

    def back(sync_conn) -> tuple[int, int, int]:  # noqa: ANN001
        newest = text("SELECT max(seq) FROM live_events")
        start = sync_conn.scalar(newest)
        sync_conn.execute(SAY_HELLO)
        sync_conn.commit()
        messages = sync_conn.scalar(text("SELECT count(*) FROM messages"))
        return sync_conn.scalar(count), messages, sync_conn.scalar(newest) - start

    assert _inspect(migrated_url, back) == (1, 2, 1)  # the reply gone, the live log kept


HONG = "\ud64d\uae38\ub3d9"


def test_0010_fills_the_skeletons_and_stops_on_names_that_look_alike(
    migrated_url: str, tmp_path: Path
) -> None:
    """Names that their keys kept apart but that look alike (a Cyrillic "\u0430"; "rn"
    and "m"): the upgrade names both rows of each pair and changes nothing; once one of
    each is renamed it fills every row's skeleton, keeping what refers to the members."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "0009")
    _run(
        migrated_url,
        INSERT_0004,
        [
            {"u": name, "e": f"{number}@example.com", "uk": name, "ek": f"{number}@example.com"}
            for number, name in enumerate(["paul", "p\u0430ul", "arnie", "amie", HONG])
        ],
    )
    _run(migrated_url, SAY_HELLO, [{}])
    with pytest.raises(RuntimeError) as stopped:
        command.upgrade(config, "head")
    message = str(stopped.value)
    assert "users 1 'paul', 2 'p\u0430ul' ('p\\u0430ul') look alike" in message
    assert "users 3 'arnie', 4 'amie' look alike" in message
    version = _inspect(
        migrated_url, lambda c: c.scalar(text("SELECT version_num FROM alembic_version"))
    )
    assert version == "0009"
    columns = _inspect(
        migrated_url, lambda c: {col["name"] for col in inspect(c).get_columns("users")}
    )
    assert "username_skeleton" not in columns  # nothing half-done

    rename = text("UPDATE users SET username = :u, username_key = :uk WHERE id = :id")
    _run(migrated_url, rename, [{"u": n, "uk": n, "id": i} for i, n in ((2, "pete"), (4, "amy"))])
    command.upgrade(config, "head")
    rows = _inspect(
        migrated_url,
        lambda c: c.execute(
            text("SELECT username, username_skeleton FROM users ORDER BY id")
        ).all(),
    )
    assert [tuple(row) for row in rows] == [
        ("paul", "paul"),
        ("pete", "pete"),
        ("arnie", "arnie"),
        ("amy", "arny"),
        (HONG, skeleton(HONG)),  # the app's own function agrees
    ]
    # On SQLite `users` was altered in place, not copied: nothing referring to it went.
    messages = _inspect(migrated_url, lambda c: c.scalar(text("SELECT count(*) FROM messages")))
    assert messages == 5

    def look_alike_refused(sync_conn) -> bool:  # noqa: ANN001
        try:
            sync_conn.execute(
                text(
                    "INSERT INTO users (username, email, username_key, username_skeleton, "
                    "email_key, password_hash, created_at) VALUES ('P\u0430UL', 'p@example.com', "
                    "'p\u0430ul', 'paul', 'p@example.com', 'x', CURRENT_TIMESTAMP)"
                )
            )
        except Exception:  # IntegrityError from either driver
            return True
        return False

    assert _inspect(migrated_url, look_alike_refused)
    command.downgrade(config, "0009")
    columns = _inspect(
        migrated_url, lambda c: {col["name"] for col in inspect(c).get_columns("users")}
    )
    assert "username_skeleton" not in columns


def test_upgrading_keeps_every_row_that_refers_to_a_copied_table(
    migrated_url: str, tmp_path: Path
) -> None:
    """SQLite's migrations copy `users` (0004) and `messages` (0006, 0011): creating the
    new table, copying the rows, dropping the old one. With foreign keys on, that drop
    would first delete every row referring to it (messages, logins, reports) through
    their cascades; the migrations run with them off and check them after."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "0003")
    login = text(
        "INSERT INTO login_sessions (token_hash, user_id, created_at, last_seen_at, remember, "
        "user_agent, ip) SELECT 'h', id, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false, '', '' "
        "FROM users"
    )
    counts = text(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM messages), "
        "(SELECT count(*) FROM login_sessions)"
    )

    def before(sync_conn) -> None:  # noqa: ANN001
        sync_conn.execute(INSERT_0003, {"u": "alice", "e": "alice@example.com"})
        sync_conn.execute(SAY_HELLO)
        sync_conn.execute(login)
        sync_conn.commit()

    _inspect(migrated_url, before)
    command.upgrade(config, "head")
    assert tuple(_inspect(migrated_url, lambda c: c.execute(counts).one())) == (1, 1, 1)


def test_migrated_token_triggers_bump_the_logins_version(migrated_url: str, tmp_path):
    """At head (0012): a token's touch leaves the logins version alone, its revocation
    (a delete) moves it, so a worker's kept token is refused at once."""
    command.upgrade(_config(migrated_url, tmp_path), "head")
    logins = text("SELECT logins FROM content_version")
    alice = {"u": "alice", "e": "alice@example.com", "uk": "alice", "ek": "alice@example.com"}

    def bumps(sync_conn) -> list[int]:  # noqa: ANN001
        sync_conn.execute(INSERT_HEAD, alice)
        sync_conn.execute(
            text(
                "INSERT INTO api_tokens (token_hash, user_id, name, scope, created_at) "
                "SELECT 'h', id, 'laptop', 'read', :at FROM users"
            ),
            {"at": datetime(2026, 1, 1, 12)},
        )
        sync_conn.commit()
        seen = []
        for statement in (
            "UPDATE api_tokens SET last_used_at = CURRENT_TIMESTAMP",  # a touch
            "UPDATE api_tokens SET scope = 'write'",
            "DELETE FROM api_tokens",
        ):
            start = sync_conn.scalar(logins)
            sync_conn.execute(text(statement))
            sync_conn.commit()
            seen.append(sync_conn.scalar(logins) - start)
        return seen

    assert _inspect(migrated_url, bumps) == [0, 1, 1]


def _tries(sync_conn, statements: list[str]) -> list[bool]:  # noqa: ANN001
    """Whether each statement went through (each tried alone, and undone)."""
    went = []
    for statement in statements:
        nested = sync_conn.begin_nested()
        try:
            sync_conn.execute(text(statement))
            went.append(True)
        except Exception as exc:  # the trigger's error, from either driver
            assert "append-only" in str(exc), exc
            went.append(False)
        nested.rollback()
    return went


def _delete_member(sync_conn, name: str) -> None:  # noqa: ANN001
    """By hand, their messages first: this engine has SQLite's foreign keys off."""
    sync_conn.execute(
        text(
            "DELETE FROM messages WHERE writer_id = (SELECT id FROM users WHERE username = :name)"
        ),
        {"name": name},
    )
    sync_conn.execute(text("DELETE FROM users WHERE username = :name"), {"name": name})


PSEUDONYMIZE_ALICE = [
    "UPDATE audit_log SET actor_id = NULL, actor = '(deleted 0123456789ab)' WHERE actor = 'alice'",
    "UPDATE audit_log SET user_id = NULL, target = 'member (deleted 0123456789ab)' "
    "WHERE target = 'member alice'",
]


def test_0013_holds_released_names_and_lets_only_a_pseudonym_into_the_audit_log(
    migrated_url: str, tmp_path: Path
) -> None:
    """A site at 0012 with members, a message and audit entries: 0013 keeps every row,
    adds `released_names`, and lets a gone member's entries be pseudonymized, nothing
    else; going back drops the table and refuses every update again, keeping the rows."""
    config = _config(migrated_url, tmp_path)
    command.upgrade(config, "0012")
    audit = text(
        "INSERT INTO audit_log (created_at, actor_id, actor, action, message_id, user_id, "
        "target, reason) SELECT CURRENT_TIMESTAMP, a.id, a.username, :action, NULL, b.id, "
        "'member ' || b.username, '' FROM users a, users b "
        "WHERE a.username = :actor AND b.username = :target"
    )

    def before(sync_conn) -> None:  # noqa: ANN001
        for name in ("alice", "bob"):
            mail = f"{name}@example.com"
            sync_conn.execute(INSERT_HEAD, {"u": name, "e": mail, "uk": name, "ek": mail})
        sync_conn.execute(SAY_HELLO)
        sync_conn.execute(audit, {"action": "block", "actor": "alice", "target": "bob"})
        sync_conn.execute(audit, {"action": "promote", "actor": "bob", "target": "alice"})
        sync_conn.commit()

    _inspect(migrated_url, before)
    command.upgrade(config, "head")
    assert "released_names" in _inspect(migrated_url, _tables)
    counts = text(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM messages), "
        "(SELECT count(*) FROM audit_log), (SELECT count(*) FROM released_names)"
    )
    assert tuple(_inspect(migrated_url, lambda c: c.execute(counts).one())) == (2, 2, 2, 0)

    def at_head(sync_conn) -> tuple[list[bool], list[bool], list[bool]]:  # noqa: ANN001
        others = ["UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"]
        while_there = _tries(sync_conn, [*others, *PSEUDONYMIZE_ALICE])
        _delete_member(sync_conn, "alice")
        sync_conn.execute(
            text(
                "INSERT INTO released_names (username_key, username_skeleton, released_at) "
                "VALUES ('alice', 'alice', CURRENT_TIMESTAMP)"
            )
        )
        sync_conn.commit()
        once_gone = _tries(sync_conn, [*others, *PSEUDONYMIZE_ALICE])
        for statement in PSEUDONYMIZE_ALICE:
            sync_conn.execute(text(statement))
        sync_conn.commit()
        again = _tries(
            sync_conn,
            [
                "UPDATE audit_log SET actor = replace(actor, '0123', '9999') "
                "WHERE actor_id IS NULL",
                "UPDATE audit_log SET target = replace(target, '0123', '9999') "
                "WHERE user_id IS NULL",
            ],
        )
        return while_there, once_gone, again

    assert _inspect(migrated_url, at_head) == (
        [False, False, False, False],
        [False, False, True, True],
        [False, False],  # pseudonymized once, for good
    )

    command.downgrade(config, "0012")
    assert "released_names" not in _inspect(migrated_url, _tables)
    entries = text("SELECT actor, target FROM audit_log ORDER BY id")
    assert [tuple(row) for row in _inspect(migrated_url, lambda c: c.execute(entries).all())] == [
        ("(deleted 0123456789ab)", "member bob"),
        ("bob", "member (deleted 0123456789ab)"),
    ]

    def after_downgrade(sync_conn) -> list[bool]:  # noqa: ANN001
        _delete_member(sync_conn, "bob")
        sync_conn.commit()
        return _tries(
            sync_conn,
            [
                "UPDATE audit_log SET actor_id = NULL, actor = '(deleted 0123456789ab)' "
                "WHERE actor = 'bob'",
                "DELETE FROM audit_log",
            ],
        )

    assert _inspect(migrated_url, after_downgrade) == [False, False]  # 0006's rule again
    command.upgrade(config, "head")
    assert "released_names" in _inspect(migrated_url, _tables)
