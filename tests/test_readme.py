"""The READMEs are the front door: every file they name exists (the Flask → Quart maps'
"where" columns included), the Korean one gives the same two commands and maps the same
Flask ideas to the same code, and the Layout tree lists every package of src/guestbook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "guestbook"
READMES = {"en": ROOT / "README.md", "ko": ROOT / "README.ko.md"}
MAPS = {"en": "## Flask → Quart map", "ko": "## Flask → Quart 대응표"}
NAMED = re.compile(r"`([\w./-]+\.(?:py|js|toml|conf|service|html|md))`")
SEARCHED = ("src", "tests", "bench", "deploy", "alembic")


def exists(name: str) -> bool:
    bases = (ROOT, SRC, SRC / "static", ROOT / "tests")  # a test named from tests/ on
    if any((base / name).exists() for base in bases):
        return True
    if "/" in name:
        return False
    return any(next((ROOT / top).rglob(name), None) for top in SEARCHED)


def section(language: str, heading: str) -> str:
    return READMES[language].read_text().split(heading, 1)[1].split("\n## ", 1)[0]


def map_rows(language: str) -> list[tuple[str, list[str]]]:
    """(the Flask column, the files of the "where" column) of each row of the map."""
    rows = [
        line
        for line in section(language, MAPS[language]).splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    return [
        (row.split("|")[1].strip(), NAMED.findall(row.rstrip(" |").rsplit("|", 1)[1]))
        for row in rows[1:]
    ]


@pytest.mark.parametrize("language", READMES)
def test_every_file_the_readme_names_exists(language: str) -> None:
    named = set(NAMED.findall(READMES[language].read_text()))
    assert len(named) > 20, "no file names found: the scan is broken"
    assert sorted(name for name in named if not exists(name)) == []


@pytest.mark.parametrize("language", READMES)
def test_the_flask_to_quart_map_points_at_real_code(language: str) -> None:
    rows = map_rows(language)
    assert len(rows) > 20
    for flask, files in rows:
        assert files, flask
        assert [name for name in files if not exists(name)] == [], flask


def test_the_korean_map_has_the_english_rows_and_their_code() -> None:
    english, korean = map_rows("en"), map_rows("ko")
    assert len(korean) == len(english)
    for (flask, files), (_korean_flask, korean_files) in zip(english, korean, strict=True):
        assert set(korean_files) <= set(files), flask
        assert korean_files[0] == files[0], flask


def test_both_readmes_give_the_two_commands() -> None:
    for path in READMES.values():
        text = path.read_text()
        assert "make run" in text and "make test" in text, path.name
    assert "(README.ko.md)" in READMES["en"].read_text()
    assert "(README.md)" in READMES["ko"].read_text()


def test_the_layout_lists_every_package() -> None:
    listed = set(re.findall(r"^  (\w+)/ ", section("en", "## Layout"), re.MULTILINE))
    packages = {path.parent.name for path in SRC.glob("*/__init__.py")}
    assert packages <= listed, packages - listed
