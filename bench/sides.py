"""The apps under test, each with its own copy of the data: our app under hypercorn,
the Flask baselines under gunicorn, our app as of another revision (`--against`); the
settings they run with, and the copies (SQLite files, or PostgreSQL databases)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from guestbook.db.triggers import drop_content_version_ddl

from . import pg, servers
from .scenarios import Scenario, Visitors
from .seed import Seeded
from .seed import count_messages as seed_count

PAGE_SIZE = 20


@dataclass
class Side:
    """One app under test with its own copy of the data."""

    name: str
    app: servers.Server
    hello: servers.Server | None
    database: str  # its own copy of the data: a SQLAlchemy URL (async driver)
    seeded: Seeded
    visitors: Visitors | None = None
    api: servers.Server | None = None  # the same app, for the API's scenarios (`Scenario.api`)

    def server(self, scenario: Scenario) -> servers.Server | None:
        if self.name == "flask" and not scenario.flask:
            return None
        if self.name == "simplest" and not scenario.simplest:
            return None
        if scenario.api and self.api is not None:
            return self.api
        return self.hello if scenario.bare else self.app

    def all_servers(self) -> list[servers.Server]:
        return [s for s in (self.app, self.hello, self.api) if s is not None]


def app_env(database: str, workdir: Path, secret: str) -> dict[str, str]:
    return {
        # Python as the sample systemd unit runs it: without docstrings (`-OO`).
        "PYTHONOPTIMIZE": "2",
        "GUESTBOOK_ENV": "production",
        "GUESTBOOK_ALLOW_SQLITE": "1",
        "GUESTBOOK_SECRET_KEY": secret,
        "GUESTBOOK_DATABASE_URL": database,
        "GUESTBOOK_INSTANCE_PATH": str(workdir / "instance"),
        "GUESTBOOK_MAIL_BACKEND": "null",
        "GUESTBOOK_PAGE_SIZE": str(PAGE_SIZE),
        # The login scenario logs in thousands of times from one address, and the POST
        # scenario posts thousands of messages as one member (the limit is still checked).
        "GUESTBOOK_LOGIN_LIMIT": str(10**9),
        "GUESTBOOK_POST_LIMIT": str(10**9),
        # It posts one text again and again: the repeat rule would refuse all but the first.
        "GUESTBOOK_DUPLICATE_WINDOW_SECONDS": "0",
    }


def count_messages(database: str) -> int:
    if database.startswith("postgresql"):
        return pg.count_messages(database.replace("+asyncpg", ""))
    return seed_count(Path(database.split("///", 1)[1]))


def ours(
    name: str,
    database: str,
    seeded: Seeded,
    workdir: Path,
    args: argparse.Namespace,
    api: bool = False,
) -> Side:
    """Our app under hypercorn; with `api`, a second server of it (same data, same key)
    for the API's scenarios."""
    env = app_env(database, workdir, secrets.token_hex(32))

    def server(label: str) -> servers.Server:
        return servers.Server(
            f"{label} (hypercorn)",
            servers.hypercorn("bench.app:app", args.workers, args.worker_class),
            env,
            "/healthz",
            args.workers,
            workdir / f"{label}.log",
        )

    api_server = server(f"{name}-api") if api else None
    return Side(name, server(name), None, database, seeded, api=api_server)


@contextlib.contextmanager
def copies(
    seeded: Seeded, workdir: Path, stamp: str, args: argparse.Namespace, names: list[str]
) -> Iterator[dict[str, str]]:
    """A copy of the seeded data per side: SQLite files, or PostgreSQL databases."""
    if args.database == "postgres":
        with pg.databases(seeded.path, stamp, names) as urls:
            yield {
                side: url.replace("postgresql://", "postgresql+asyncpg://")
                for side, url in urls.items()
            }
        return
    files = {}
    for side in names:
        files[side] = workdir / f"{side}.sqlite3"
        shutil.copyfile(seeded.path, files[side])
    # The content-version triggers serve our cache; the baselines have none to pay for.
    for side in ("flask", "simplest"):
        with contextlib.closing(sqlite3.connect(files[side])) as con, con:
            for statement in drop_content_version_ddl("sqlite"):
                con.execute(statement)
    yield {side: f"sqlite+aiosqlite:///{path}" for side, path in files.items()}


def ours_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    side = ours("ours", database, seeded, workdir, args, api=True)
    side.hello = servers.Server(
        "hello (hypercorn)",
        servers.hypercorn("bench.baseline.hello:app", args.workers, args.worker_class),
        {},
        "/hello",
        args.workers,
        workdir / "hello.log",
    )
    return side


def before_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    """Our app as of `--against`: its `src/` from git, first on the workers' path."""
    source = workdir / "before"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", args.against, "src"],
        cwd=servers.ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
    side = ours("before", database, seeded, workdir, args, api=True)
    side.app.env["PYTHONPATH"] = os.pathsep.join([str(source / "src"), str(servers.ROOT)])
    return side


def _flask(
    name: str, module: str, database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace
) -> Side:
    """A Flask baseline under gunicorn: sync workers on SQLite (sqlite3 is in-line and
    quick), threads on PostgreSQL, where a worker would otherwise sit idle during each
    round trip (`--flask-threads`)."""
    app = servers.Server(
        f"{name} (gunicorn)",
        servers.gunicorn(module, args.workers, args.flask_threads),
        app_env(database, workdir, secrets.token_hex(32)),
        "/hello",
        args.workers,
        workdir / f"{name}.log",
    )
    return Side(name, app, app, database, seeded)


def flask_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    return _flask("flask", "bench.baseline.flask_app:app", database, seeded, workdir, args)


def simplest_side(database: str, seeded: Seeded, workdir: Path, args: argparse.Namespace) -> Side:
    module = "bench.baseline.flask_simplest:app"
    return _flask("simplest", module, database, seeded, workdir, args)
