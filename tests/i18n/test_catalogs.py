"""The catalogs: every message has its Korean translation, none is fuzzy, the template
matches the sources, and the committed .mo files are what the .po files compile to.
When one of these fails, run `make messages`, translate what is new in
src/guestbook/i18n/translations/ko/LC_MESSAGES/messages.po, and run it again."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from guestbook import i18n
from support import ROOT

TRANSLATIONS = ROOT / "src" / "guestbook" / "i18n" / "translations"
MAKE_MESSAGES = "run `make messages`"


def read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language)


def ids(catalog: Catalog) -> set[object]:
    return {message.id for message in catalog if message.id}


def extracted(root: Path, out: Path) -> Catalog:
    """The template the sources under `root` make now, as `make messages` extracts it."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-o",
            str(out),
            "src",
        ],
        cwd=root,
        check=True,
    )
    return read(out)


def test_the_template_is_up_to_date_with_the_sources(tmp_path: Path) -> None:
    fresh = ids(extracted(ROOT, tmp_path / "messages.pot"))
    committed = ids(read(TRANSLATIONS / "messages.pot"))
    assert fresh - committed == set(), f"strings missing from messages.pot: {MAKE_MESSAGES}"
    assert committed - fresh == set(), f"strings gone from the sources: {MAKE_MESSAGES}"


@pytest.mark.parametrize("language", i18n.LOCALES)
def test_each_catalog_holds_exactly_the_templates_messages(language: str) -> None:
    template = ids(read(TRANSLATIONS / "messages.pot"))
    catalog = read(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", language)
    assert ids(catalog) == template, MAKE_MESSAGES
    assert not catalog.obsolete, f"obsolete entries in {language}: {MAKE_MESSAGES}"


def test_every_message_has_a_korean_translation_and_none_is_fuzzy() -> None:
    catalog = read(TRANSLATIONS / "ko" / "LC_MESSAGES" / "messages.po", "ko")
    untranslated, fuzzy, wrong_variables = [], [], []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
        # Babel's own checks: the same %(name)s placeholders on both sides.
        if any(message.check(catalog)):
            wrong_variables.append(message.id)
    assert untranslated == [], "no Korean translation for these"
    assert fuzzy == [], "fuzzy Korean translations (check them, then drop the flag)"
    assert wrong_variables == []


@pytest.mark.parametrize("language", i18n.LOCALES)
def test_the_committed_mo_files_are_the_compiled_po_files(language: str) -> None:
    """The app loads the .mo files, so a .po edited but not compiled would not show."""
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    compiled = io.BytesIO()
    write_mo(compiled, read(folder / "messages.po", language))  # what `pybabel compile` does
    assert (folder / "messages.mo").read_bytes() == compiled.getvalue(), MAKE_MESSAGES


def test_the_extraction_catches_a_new_string(tmp_path: Path) -> None:
    """The template test above can fail: a newly marked string is extracted, by the
    same configuration, from code and from a template alike."""
    package = tmp_path / "src" / "guestbook"
    (package / "templates").mkdir(parents=True)
    (package / "new.py").write_text('gettext("A brand new string")\n')
    (package / "templates" / "new.html").write_text('{{ _("A brand new label") }}\n')
    (tmp_path / "babel.cfg").write_text((ROOT / "babel.cfg").read_text())
    found = ids(extracted(tmp_path, tmp_path / "new.pot"))
    assert found == {"A brand new string", "A brand new label"}
