"""The README is the front door: every file it names exists (the Flask → Quart map's
"where" column included), and its Layout tree lists every package of src/guestbook."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "guestbook"
README = (ROOT / "README.md").read_text()
NAMED = re.compile(r"`([\w./-]+\.(?:py|js|toml|conf|service|html|md))`")
SEARCHED = ("src", "tests", "bench", "deploy", "alembic")


def exists(name: str) -> bool:
    bases = (ROOT, SRC, SRC / "static", ROOT / "tests")  # a test named from tests/ on
    if any((base / name).exists() for base in bases):
        return True
    if "/" in name:
        return False
    return any(next((ROOT / top).rglob(name), None) for top in SEARCHED)


def test_every_file_the_readme_names_exists() -> None:
    named = set(NAMED.findall(README))
    assert len(named) > 40, "no file names found: the scan is broken"
    assert sorted(name for name in named if not exists(name)) == []


def test_the_flask_to_quart_map_points_at_real_code() -> None:
    section = README.split("## Flask → Quart map", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 20
    for row in rows[1:]:
        where = row.rstrip(" |").rsplit("|", 1)[1]
        files = NAMED.findall(where)
        assert files, row
        assert [name for name in files if not exists(name)] == [], row


def test_the_layout_lists_every_package() -> None:
    section = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^  (\w+)/ ", section, re.MULTILINE))
    packages = {path.parent.name for path in SRC.glob("*/__init__.py")}
    assert packages <= listed, packages - listed
