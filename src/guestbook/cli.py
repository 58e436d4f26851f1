"""The `guestbook` command: serve, db upgrade, create-user, promote, demote, backup,
restore, export, import, compile-templates.

Errors print one line and exit non-zero; a traceback is for bugs, not for a wrong
setting or a taken username.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import importlib.util
import logging
import logging.config
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from guestbook.config import ConfigError, Settings

if TYPE_CHECKING:
    from hypercorn.config import Config as HypercornConfig


log = logging.getLogger("guestbook.cli")
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # a checkout's, when run from one
MIGRATIONS = Path(__file__).resolve().parent / "migrations"  # a wheel's copy of alembic/


class CommandError(Exception):
    """A failure the user can fix; str() is the line to print."""


def _alembic_config(settings: Settings):
    """A checkout's `alembic.ini` and `alembic/`; installed from a wheel, the same
    migrations shipped inside the package (`guestbook/migrations`)."""
    from alembic.config import Config

    ini = PROJECT_ROOT / "alembic.ini"
    if ini.exists():
        config = Config(str(ini))
    elif (MIGRATIONS / "env.py").exists():
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
    else:
        raise CommandError(f"no migrations at {MIGRATIONS} (a broken install?)")
    config.attributes["database_url"] = settings.database_url
    # The JSON log takes alembic's lines too (`web.logs.JSON_LOGGING`); alembic.ini's
    # readable handler would put lines of another shape among them.
    config.attributes["configure_logging"] = settings.log_format == "text"
    return config


def db_upgrade(settings: Settings, revision: str = "head") -> None:
    from alembic import command

    before = _revision(settings)
    command.upgrade(_alembic_config(settings), revision)
    after = _revision(settings)
    if after != before:
        log.info(
            "migrated from %s to %s",
            before,
            after,
            extra={"event": "migration", "from_revision": before, "to_revision": after},
        )


def _revision(settings: Settings) -> str | None:
    """The database's alembic revision; None before its first migration."""
    from guestbook.db import make_engine
    from guestbook.ops import OpsError, schema_revision

    async def read() -> str | None:
        engine = make_engine(settings)
        try:
            async with engine.connect() as conn:
                return await schema_revision(conn)
        except OpsError:
            return None
        finally:
            await engine.dispose()

    if settings.is_sqlite:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    return asyncio.run(read())


@contextlib.asynccontextmanager
async def _request(settings: Settings) -> AsyncIterator[None]:
    """A request context of the app's own, as if a form had been sent: `g.db` and the
    app's code work as in a view."""
    from guestbook import create_app

    app = create_app(settings)
    async with app.app_context():
        await app.startup()
        try:
            async with app.test_request_context("/"):
                yield
        finally:
            await app.shutdown()


async def _create_user(
    settings: Settings, username: str, email: str, password: str, admin: bool = False
) -> str:
    """The web signup's own path (`accounts.services.register`: checks, hash, welcome
    mail); with `admin`, the new member is made a moderator, in the audit log. Returns
    the name as stored."""
    from guestbook import forms
    from guestbook.accounts import names
    from guestbook.accounts import services as accounts
    from guestbook.models import MODERATOR
    from guestbook.moderation import services as moderation

    try:
        username = names.check(username)
        email = forms.check_new_email(email)
        password = forms.check_new_password(password, password)
    except forms.FieldError as err:
        raise CommandError(f"{err.field}: {err.message}") from None
    async with _request(settings):
        try:
            user = await accounts.register(username, email, password)
        except accounts.Taken as taken:
            raise CommandError("; ".join(taken.errors.values())) from None
        if admin:
            await moderation.set_role(user, MODERATOR)
    return user.username


async def _set_role(settings: Settings, username: str, role: str) -> bool:
    """Make `username` a moderator or a member again; False if it already was."""
    from guestbook.accounts import services as accounts
    from guestbook.moderation import services as moderation

    async with _request(settings):
        user = await accounts.by_username(username)
        if user is None:
            raise CommandError(f"there is no member called {username!r}")
        return await moderation.set_role(user, role)


async def _delete_user(settings: Settings, username: str) -> str:
    """Delete a member's account as the account page does; returns the name as it was
    stored."""
    from guestbook.accounts import services as accounts
    from guestbook.moderation import services as moderation

    async with _request(settings):
        user = await accounts.by_username(username)
        if user is None:
            raise CommandError(f"there is no member called {username!r}")
        await moderation.delete_account(user)
    return user.username


def hypercorn_config(args: argparse.Namespace, log_format: str = "text") -> HypercornConfig:
    """Hypercorn's settings: the TOML file if given, then the command line; the logging
    of `log_format` (GUESTBOOK_LOG_FORMAT)."""
    from hypercorn.config import Config

    from guestbook.live.subscriber import MAX_FRAME_BYTES
    from guestbook.web.logs import logging_config

    config = Config.from_toml(args.config) if args.config else Config()
    if not args.config:
        config.bind = ["127.0.0.1:5000"]
        config.accesslog = config.errorlog = "-"
        config.graceful_timeout = 10
        config.websocket_max_message_size = MAX_FRAME_BYTES  # /live reads nothing larger
    if args.bind:
        config.bind = args.bind
    if args.workers is not None:
        config.workers = args.workers
    config.application_path = "guestbook.asgi:app"
    if config.worker_class == "uvloop" and importlib.util.find_spec("uvloop") is None:
        # The sample hypercorn.toml asks for uvloop; without the `speed` extra, run anyway.
        print(
            "guestbook: uvloop is not installed (pip install 'guestbook[speed]'); using asyncio",
            file=sys.stderr,
        )
        config.worker_class = "asyncio"
    if config.logconfig is None and config.logconfig_dict is None:
        config.logconfig_dict = logging_config(log_format)  # lines carry the request id
        if log_format == "json":
            # The app writes each request's line itself (`web.access`), with what
            # hypercorn cannot know: the route template and the member.
            config.accesslog = None
    return config


def serve(args: argparse.Namespace) -> None:
    from hypercorn.run import run

    from guestbook.live.worker import use_our_worker
    from guestbook.metrics import exporter

    # Check the settings (and migrate a dev SQLite database) before forking workers,
    # so a bad setting is one line here, not a traceback per worker.
    settings = Settings.from_env()
    config = hypercorn_config(args, settings.log_format)
    if settings.is_sqlite and not settings.is_production:
        db_upgrade(settings)
    if settings.metrics_bind:
        # In this process, before the workers are spawned: they inherit the directory
        # their figures go to, and one listener adds them all up.
        try:
            exporter.serve(settings.metrics_bind, exporter.prepare_directory())
        except OSError as err:
            raise CommandError(f"GUESTBOOK_METRICS_BIND={settings.metrics_bind}: {err}") from None
    logging.config.dictConfig(_logging(settings.log_format))
    log.info(
        "Guestbook (%s) on http://%s",
        settings.env,
        config.bind[0],
        extra={"event": "serving", "bind": config.bind, "metrics": settings.metrics_bind or None},
    )
    use_our_worker()  # live sockets close with 1001 as the shutdown begins
    sys.exit(run(config))


def compile_templates(into: Path) -> Path:
    """`web.compiled_templates.build`, for this release's app: its Jinja environment
    does not depend on the settings (the folder's fingerprint would tell), so any do."""
    import secrets

    from guestbook import create_app
    from guestbook.web import compiled_templates

    into = into.resolve()
    # A key of its own, so none is written into `into` (as development's would be).
    key = secrets.token_hex(32)
    app = create_app(Settings(env="testing", secret_key=key, instance_path=into))
    return compiled_templates.build(app.jinja_env, into)


def _operate(command: str, settings: Settings, path: Path) -> str:
    """backup, restore, export or import `path`; the line that says what was done."""
    from guestbook.ops import OpsError, backup, transfer

    try:
        if command == "backup":
            backup.backup(settings, path)
            done, fields = f"backed up to {path}", {}
        elif command == "restore":
            revision = backup.restore(settings, path)
            done = f"restored {path}: schema at {revision} (guestbook db upgrade brings it up)"
            fields = {"schema": revision}
        elif command == "export":
            counts = asyncio.run(transfer.export(settings, path))
            done, fields = f"exported {_rows(counts)} to {path}", {"rows": counts}
        else:
            counts = asyncio.run(transfer.import_(settings, path))
            done, fields = f"imported {_rows(counts)} from {path}", {"rows": counts}
    except OpsError as err:
        raise CommandError(str(err)) from None
    log.info("%s", done, extra={"event": command, "file": str(path), **fields})
    return done


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {table}" for table, count in counts.items())


def main(argv: list[str] | None = None) -> None:
    # Not the docstring: `python -OO`, as the service runs, drops it.
    parser = argparse.ArgumentParser(
        prog="guestbook", description="Serve the guestbook, and look after its data."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_serve = sub.add_parser("serve", help="serve the app with hypercorn")
    p_serve.add_argument("--bind", "-b", action="append", help="address (default 127.0.0.1:5000)")
    p_serve.add_argument("--workers", "-w", type=int, help="worker processes (default 1)")
    p_serve.add_argument("--config", "-c", help="a hypercorn TOML file, e.g. hypercorn.toml")

    p_compile = sub.add_parser(
        "compile-templates",
        help="compile the templates ahead, as production workers do when they start",
    )
    p_compile.add_argument(
        "into", type=Path, nargs="?", help="default: GUESTBOOK_COMPILED_TEMPLATES_PATH"
    )

    p_db = sub.add_parser("db", help="database migrations")
    db_sub = p_db.add_subparsers(dest="db_command", required=True)
    p_up = db_sub.add_parser("upgrade", help="migrate to the newest schema (alembic upgrade)")
    p_up.add_argument("revision", nargs="?", default="head")

    p_user = sub.add_parser("create-user", help="add a member")
    p_user.add_argument("username")
    p_user.add_argument("email")
    p_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p_user.add_argument("--admin", action="store_true", help="make the member a moderator")
    for name, what in (("promote", "make a member a moderator"), ("demote", "back to member")):
        sub.add_parser(name, help=what).add_argument("username")
    p_delete = sub.add_parser(
        "delete-user", help="delete a member's account and all that is theirs, for good"
    )
    p_delete.add_argument("username")
    p_delete.add_argument("--yes", action="store_true", help="it cannot be undone: say so")
    for name, what in OPERATIONS.items():
        sub.add_parser(name, help=what).add_argument("file", type=Path)

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            serve(args)
        if args.command == "compile-templates" and args.into:
            print(compile_templates(args.into))  # a worker's child: no settings needed
            return
        settings = Settings.from_env()
        logging.config.dictConfig(_logging(settings.log_format))
        if args.command == "compile-templates":
            from guestbook.web.compiled_templates import root

            print(compile_templates(root(settings)))
        elif args.command in OPERATIONS:
            print(_operate(args.command, settings, args.file))
        elif args.command == "db":
            db_upgrade(settings, args.revision)
            print(f"database at {args.revision}: {_redacted(settings.database_url)}")
        elif args.command == "create-user":
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass("Password: ")
            name = asyncio.run(
                _create_user(settings, args.username, args.email, password, args.admin)
            )
            print(f"created {'moderator' if args.admin else 'user'} {name}")
        elif args.command in ("promote", "demote"):
            from guestbook.models import MEMBER, MODERATOR

            role = MODERATOR if args.command == "promote" else MEMBER
            changed = asyncio.run(_set_role(settings, args.username, role))
            print(f"{args.username} is {'now' if changed else 'already'} a {role}")
        elif args.command == "delete-user":
            if not args.yes:
                raise CommandError(f"deleting {args.username!r} cannot be undone: add --yes")
            print(f"deleted {asyncio.run(_delete_user(settings, args.username))}")
    except (ConfigError, CommandError) as err:
        sys.exit(f"guestbook: {err}")
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        sys.exit(f"guestbook: {where}{err.strerror or err}")
    except Exception as err:  # a database that refuses us, say: one line, not a traceback
        sys.exit(f"guestbook: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")


OPERATIONS = {
    "backup": "a consistent copy of the database, taken while the site serves",
    "restore": "load a backup into an empty database",
    "export": "the whole site as JSON Lines, to move it to another database",
    "import": "load an export into an empty, migrated database",
}


def _logging(log_format: str) -> dict:
    """The app's logging config, its lines on standard error: standard output is
    the command's answer."""
    from guestbook.web.logs import logging_config

    config = logging_config(log_format)
    return {
        **config,
        "handlers": {
            name: {**handler, "stream": "ext://sys.stderr"}
            for name, handler in config["handlers"].items()
        },
    }


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":  # `python -m guestbook.cli`: what workers start their child with
    main()
