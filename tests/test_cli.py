"""The `guestbook` command, run as a user runs it: a real process, real exit codes."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

GUESTBOOK = str(Path(sys.executable).with_name("guestbook"))


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str = ""):  # noqa: ANN201
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUESTBOOK_")}
    return subprocess.run(
        [GUESTBOOK, *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result, expected: str) -> None:  # noqa: ANN001
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("guestbook: "), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_create_user_on_the_dev_defaults(tmp_path: Path) -> None:
    upgraded = run(["db", "upgrade"], tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "instance" / "guestbook.sqlite3").exists()

    created = run(
        ["create-user", "alice", "alice@example.com", "--password-stdin"],
        tmp_path,
        stdin="correct horse\n",
    )
    assert created.returncode == 0, created.stderr
    assert "created user alice" in created.stdout

    again = run(
        ["create-user", "ALICE", "new@example.com", "--password-stdin"],
        tmp_path,
        stdin="correct horse\n",
    )
    assert_one_line_error(again, "is taken")
    # The signup form's own path: canonical keys ("\uff41" is a fullwidth a), and the
    # welcome mail queued with the account.
    fullwidth = run(
        ["create-user", "bob", "\uff41lice@example.com", "--password-stdin"],
        tmp_path,
        stdin="correct horse\n",
    )
    assert_one_line_error(fullwidth, "An account with that email already exists")
    with sqlite3.connect(tmp_path / "instance" / "guestbook.sqlite3") as con:
        users = con.execute("SELECT username_key, email_key FROM users").fetchall()
        mails = con.execute("SELECT recipient, subject FROM outbox").fetchall()
    assert users == [("alice", "alice@example.com")]
    assert mails == [("alice@example.com", "Welcome to the Guestbook, alice!")]


def test_create_user_in_any_script_and_never_a_look_alike(tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    hong = "\ud64d\uae38\ub3d9"
    created = run(
        ["create-user", hong, "hong@example.com", "--password-stdin"],
        tmp_path,
        stdin="long enough\n",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout == f"created user {hong}\n"
    look_alike = run(  # "rn" looks like "m"
        ["create-user", "jim", "jim@example.com", "--password-stdin"],
        tmp_path,
        stdin="long enough\n",
    )
    assert look_alike.returncode == 0, look_alike.stderr
    again = run(
        ["create-user", "jirn", "jirn@example.com", "--password-stdin"],
        tmp_path,
        stdin="long enough\n",
    )
    assert_one_line_error(again, "That username looks too much like jim's.")
    with sqlite3.connect(tmp_path / "instance" / "guestbook.sqlite3") as con:
        names = con.execute("SELECT username FROM users ORDER BY id").fetchall()
        subjects = con.execute("SELECT subject FROM outbox ORDER BY id").fetchall()
    assert names == [(hong,), ("jim",)]
    assert subjects[0] == (f"Welcome to the Guestbook, {hong}!",)


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["create-user", "a b", "x@example.com", "--password-stdin"], "long enough\n", "username"),
        (
            ["create-user", "a\u200db", "x@example.com", "--password-stdin"],
            "long enough\n",
            "invisible",
        ),
        (["create-user", "alice", "not-an-email", "--password-stdin"], "long enough\n", "email"),
        (["create-user", "alice", "a@example.com", "--password-stdin"], "short\n", "password"),
    ],
)
def test_create_user_checks_fields_like_the_signup_form(
    tmp_path: Path, args: list[str], stdin: str, expected: str
) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    assert_one_line_error(run(args, tmp_path, stdin=stdin), expected)


def test_production_without_a_secret_key_refuses_to_start(tmp_path: Path) -> None:
    env = {"GUESTBOOK_ENV": "production", "GUESTBOOK_DATABASE_URL": "postgresql+asyncpg://h/db"}
    for args in (["db", "upgrade"], ["serve"]):
        assert_one_line_error(run(args, tmp_path, env), "GUESTBOOK_SECRET_KEY")


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    env = {"GUESTBOOK_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    assert_one_line_error(run(["db", "upgrade"], tmp_path, env), "guestbook: ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_on_the_dev_defaults_with_no_setup(tmp_path: Path) -> None:
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GUESTBOOK_")}
    server = subprocess.Popen(
        [GUESTBOOK, "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "server did not answer"
                time.sleep(0.2)
        assert "<title>Messages · Guestbook</title>" in page
        assert "Sign up" in page
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0


def test_moderators_are_made_by_create_user_admin_promote_and_demote(tmp_path: Path) -> None:
    import sqlite3

    assert run(["db", "upgrade"], tmp_path).returncode == 0
    for args, says in (
        (["owner", "owner@example.com", "--admin"], "created moderator owner"),
        (["alice", "alice@example.com"], "created user alice"),
    ):
        made = run(["create-user", *args, "--password-stdin"], tmp_path, stdin="long enough\n")
        assert made.returncode == 0, made.stderr
        assert says in made.stdout

    said = [
        run([command, name], tmp_path).stdout.strip()
        for command, name in (("promote", "ALICE"), ("promote", "alice"), ("demote", "alice"))
    ]
    assert said == [
        "ALICE is now a moderator",
        "alice is already a moderator",
        "alice is now a member",
    ]
    assert_one_line_error(run(["promote", "nobody"], tmp_path), "there is no member called")

    database = sqlite3.connect(tmp_path / "instance" / "guestbook.sqlite3")
    try:
        roles = dict(database.execute("SELECT username, role FROM users"))
        log = database.execute("SELECT actor, action, target FROM audit_log ORDER BY id").fetchall()
    finally:
        database.close()
    assert roles == {"owner": "moderator", "alice": "member"}
    assert log == [
        ("(command line)", "promote", "member owner"),  # made a moderator by --admin
        ("(command line)", "promote", "member alice"),
        ("(command line)", "demote", "member alice"),
    ]


def test_delete_user_takes_yes_and_logs_the_deletion_under_the_members_pseudonym(
    tmp_path: Path,
) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    for name in ("alice", "bob"):
        made = run(
            ["create-user", name, f"{name}@example.com", "--password-stdin"],
            tmp_path,
            stdin="long enough\n",
        )
        assert made.returncode == 0, made.stderr
    assert run(["promote", "alice"], tmp_path).returncode == 0  # an entry about her before

    assert_one_line_error(run(["delete-user", "alice"], tmp_path), "cannot be undone: add --yes")
    assert_one_line_error(run(["delete-user", "nobody", "--yes"], tmp_path), "no member called")
    deleted = run(["delete-user", "ALICE", "--yes"], tmp_path)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "deleted alice"

    database = sqlite3.connect(tmp_path / "instance" / "guestbook.sqlite3")
    try:
        users = [name for (name,) in database.execute("SELECT username FROM users")]
        log = database.execute(
            "SELECT actor, action, target, user_id FROM audit_log ORDER BY id"
        ).fetchall()
    finally:
        database.close()
    assert users == ["bob"]
    assert [(actor, action) for actor, action, _, _ in log] == [
        ("(command line)", "promote"),
        ("(command line)", "delete-account"),
    ]
    # Both entries about her name the one pseudonym, and nothing names her any more.
    targets = {target for _, _, target, _ in log}
    assert len(targets) == 1
    assert re.fullmatch(r"member \(deleted [0-9a-f]{12}\)", targets.pop())
    assert [user_id for *_, user_id in log] == [None, None]
    # Her name is held back, as after her own deletion.
    again = run(
        ["create-user", "alice", "new@example.com", "--password-stdin"],
        tmp_path,
        stdin="long enough\n",
    )
    assert_one_line_error(again, "used by an account deleted recently")
