"""Production's log: one JSON object per line, from the access events to the app's own
(mail sent, a moderator's action, a migration), with no reset token and no password in
any of them; development keeps readable lines."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestbook import cli
from guestbook.web.logs import JSON_LOGGING, LOGGING
from servers import GUESTBOOK, HYPERCORN_TOML, LiveServer, child_env
from support import (
    NEW_PASSWORD,
    PASSWORD,
    SMTPTestServer,
    Visitor,
    new_ip,
    new_name,
    own_database,
    post_form,
    production_env,
    signup,
)

GUESS = "a-typed-secret-guess"  # a wrong password typed in the login form


def entries(text: str) -> list[dict]:
    """Every line as the JSON object it must be (json.loads fails on any other)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def command(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    done = subprocess.run(
        [GUESTBOOK, *args], env=child_env(env), input=stdin, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with own_database(tmp_path, "jsonlog") as url:
        yield url


async def test_production_logs_json_lines_without_tokens_or_passwords(
    tmp_path: Path, url: str, smtp_server: SMTPTestServer
) -> None:
    env = production_env(
        url,
        GUESTBOOK_ALLOW_SQLITE="1",
        GUESTBOOK_MAIL_BACKEND="smtp",
        GUESTBOOK_SMTP_HOST=smtp_server.host,
        GUESTBOOK_SMTP_PORT=str(smtp_server.port),
        GUESTBOOK_MAIL_POLL_SECONDS="0.2",
    )
    migrated = entries(command(env, "db", "upgrade").stderr)
    assert [e["to_revision"] for e in migrated if e.get("event") == "migration"] != []
    moderator = f"mod{uuid.uuid4().hex[:8]}"
    made = command(
        env,
        "create-user", moderator, f"{moderator}@example.com", "--admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert any(e.get("action") == "promote" for e in entries(made.stderr))

    name, body = new_name(), f"logged {uuid.uuid4().hex}"
    with LiveServer(tmp_path, env) as server:
        base = server.url
        async with Visitor(new_ip()) as member:
            await signup(member, base, name)
            await post_form(member, f"{base}/messages", {"body": body}, page=f"{base}/")
        async with Visitor(new_ip()) as mod:
            form = {"username": moderator, "password": PASSWORD}
            assert (await post_form(mod, f"{base}/auth/login", form)).status_code == 302
            page = await mod.get(f"{base}/")
            message_id = re.search(r'id="m(\d+)"', page.text)[1]
            hidden = await post_form(
                mod, f"{base}/messages/{message_id}/hide", {"reason": "test"}, page=f"{base}/"
            )
            assert hidden.status_code == 302
        async with Visitor(new_ip()) as forgetful:
            wrong = {"username": name, "password": GUESS}
            assert (await post_form(forgetful, f"{base}/auth/login", wrong)).status_code == 401
            forgot = {"email": f"{name}@example.com"}
            assert (await post_form(forgetful, f"{base}/auth/forgot", forgot)).status_code == 200
            # Two welcome mails (the moderator's, the member's), then the reset.
            mails = await smtp_server.wait_async(3)
            texts = [mail.get_body(("plain",)).get_content() for mail in mails]
            link = re.search(r"/auth/reset/[\w.-]+", "".join(texts))
            token = link[0].rsplit("/", 1)[1]
            reset = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
            done = await post_form(forgetful, f"{base}{link[0]}", reset)
            assert done.status_code == 302
            assert (await forgetful.get(f"{base}/")).status_code == 200

    log = server.log()
    for secret in (token, PASSWORD, NEW_PASSWORD, GUESS):
        assert secret not in log
    lines = entries(log)  # every line is JSON
    requests = [e for e in lines if e.get("event") == "request"]
    assert all(
        set(e)
        >= {"time", "request_id", "method", "route", "status", "duration_ms", "bytes", "member"}
        for e in requests
    )
    reset_lines = [e for e in requests if e["route"] == "/auth/reset/<token>"]
    assert [(e["method"], e["status"]) for e in reset_lines] == [("GET", 200), ("POST", 302)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", e["request_id"]) for e in reset_lines)
    # The member: none before the login, their id after it.
    signup_page = [e for e in requests if e["route"] == "/auth/signup" and e["method"] == "GET"]
    home = [e for e in requests if e["route"] == "/" and e["method"] == "GET"]
    assert signup_page[0]["member"] is None and isinstance(home[-1]["member"], int)
    events = {e.get("event") for e in lines}
    assert {"serving", "request", "mail.sent", "moderation"} <= events
    assert any(e.get("action") == "hide" for e in lines if e.get("event") == "moderation")
    assert not any(e["logger"] == "hypercorn.access" for e in lines)  # the app's own lines


def test_development_keeps_readable_lines_and_production_writes_json() -> None:
    args = cli.argparse.Namespace(config=str(HYPERCORN_TOML), bind=None, workers=None)
    text = cli.hypercorn_config(args, "text")
    assert (text.logconfig_dict, text.accesslog) == (LOGGING, "-")
    json_config = cli.hypercorn_config(args, "json")
    assert (json_config.logconfig_dict, json_config.accesslog) == (JSON_LOGGING, None)
