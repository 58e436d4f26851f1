"""The wheel is a whole install: built from this checkout and installed into a fresh
virtualenv, `guestbook db upgrade` run from an empty folder migrates a new database
to the very schema a checkout's migrations make (the wheel ships `alembic/` as
`guestbook.migrations`), and the app's templates, static files and catalogs come too."""

from __future__ import annotations

import os
import shutil
import site
import sqlite3
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "instance", "test-artifacts", "build", "*.egg-info",
    "__pycache__", ".pytest_cache",
)  # fmt: skip

# The packaging is the same whatever the database; this needs SQLite files only.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of this checkout (the build leaves nothing behind)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=LEFT_OUT)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", source],
        check=True,
        capture_output=True,
    )
    [built] = (work / "dist").glob("guestbook-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel (not editable); its dependencies are this
    environment's, reached through a path file, so nothing is downloaded."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    [packages] = env.glob("lib/python*/site-packages")
    (packages / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = env / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        check=True,
        capture_output=True,
    )
    return env


def schema(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        return [(kind, name, table, table_parts(sql)) for kind, name, table, sql in rows] + version


def table_parts(sql: str | None) -> object:
    """A CREATE TABLE's columns and constraints as a set: alembic's batch copy of a
    table writes its constraints in no fixed order, which means nothing to SQLite."""
    if not sql or not sql.startswith("CREATE TABLE"):
        return sql
    head, _, body = sql.partition("(")
    return head, frozenset(part.strip().rstrip(",") for part in body.rsplit(")", 1)[0].split("\n"))


def upgrade(command: list[str], database: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GUESTBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "GUESTBOOK_INSTANCE_PATH": str(cwd / "instance"),
    }
    env.pop("PYTHONPATH", None)  # the installed copy alone, not this checkout's src/
    return subprocess.run(
        [*command, "db", "upgrade"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_wheel_ships_migrations_templates_static_files_and_catalogs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {path.name for path in (ROOT / "alembic" / "versions").glob("*.py")}
    assert {"guestbook/migrations/env.py", "guestbook/migrations/script.py.mako"} <= names
    assert {f"guestbook/migrations/versions/{name}" for name in migrations} <= names
    assert "guestbook/templates/base.html" in names
    assert "guestbook/static/live.js" in names
    assert "guestbook/i18n/translations/ko/LC_MESSAGES/messages.mo" in names


def test_the_installed_wheel_migrates_from_any_folder_to_the_checkouts_schema(
    installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    from_wheel = upgrade([str(installed / "bin" / "guestbook")], tmp_path / "wheel.db", elsewhere)
    assert from_wheel.returncode == 0, from_wheel.stderr
    assert "database at head" in from_wheel.stdout

    from_checkout = upgrade(
        [sys.executable, "-c", "from guestbook.cli import main; main()"],
        tmp_path / "checkout.db",
        ROOT,
    )
    assert from_checkout.returncode == 0, from_checkout.stderr
    wheel_schema = schema(tmp_path / "wheel.db")
    assert len(wheel_schema) > 10, "no tables: the migrations did not run"
    assert wheel_schema == schema(tmp_path / "checkout.db")


def test_the_installed_wheel_is_not_this_checkout(installed: Path, tmp_path: Path) -> None:
    """The test above proves something only if the venv imports the wheel's copy."""
    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import guestbook; print(guestbook.__file__)"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), where
