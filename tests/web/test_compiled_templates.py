"""Production workers render templates compiled ahead by a child process
(`web.compiled_templates`): pages come from the compiled modules, a folder is made once
per release however many workers start at once, an edited template gets a folder of its
own, and a worker whose child fails compiles as before."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jinja2 import ChoiceLoader, DictLoader, Environment, ModuleLoader
from quart import Quart

from guestbook.web import compiled_templates
from support import PRODUCTION, serving, visible_text

TEMPLATES = Path(compiled_templates.__file__).parents[1] / "templates"


@pytest.fixture
def into(tmp_path: Path) -> Path:
    """A folder no other test compiled into (the suite shares one otherwise)."""
    return tmp_path / "compiled"


@pytest.fixture
def production(app: Quart, settings_overrides: dict[str, Any], into: Path) -> dict[str, Any]:
    """Production settings on the database `app` made."""
    return {**settings_overrides, **PRODUCTION, "compiled_templates_path": str(into)}


async def test_a_production_worker_renders_what_its_child_compiled(production, into) -> None:
    async with serving(production) as served:
        [folder] = into.iterdir()
        # Loaded from the compiled module, not compiled from the source.
        for name in ("index.html", "base.html", "_macros.html", "messages/list.html"):
            assert Path(served.jinja_env.get_template(name).filename).parent == folder, name
        client = served.test_client()
        for path, status, text in [
            ("/", 200, "No messages yet"),
            ("/auth/login", 200, "Log in"),
            ("/no/such/page", 404, "There is no page at this address."),
        ]:
            response = await client.get(path)
            assert response.status_code == status, path
            assert text in await visible_text(response), path


async def test_development_compiles_templates_as_they_are_read(
    app: Quart, settings_overrides: dict[str, Any], into: Path
) -> None:
    """An edited template shows on its next render: nothing is loaded ahead."""
    development = {**settings_overrides, "env": "development", "compiled_templates_path": str(into)}
    async with serving(development) as served:
        assert not isinstance(served.jinja_env.loader, ChoiceLoader)
        assert (await served.test_client().get("/")).status_code == 200
    assert not into.exists()


async def test_a_worker_whose_child_fails_compiles_as_before(
    production, into, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(compiled_templates, "COMMAND", (sys.executable, "-c", "exit(3)"))
    with caplog.at_level(logging.WARNING, compiled_templates.__name__):
        async with serving(production) as served:
            assert not isinstance(served.jinja_env.loader, ChoiceLoader)
            response = await served.test_client().get("/")
            assert response.status_code == 200
            assert "No messages yet" in await visible_text(response)
    assert "compiling in this worker" in caplog.text


async def test_workers_starting_at_once_make_one_whole_folder(into: Path) -> None:
    children = [
        await asyncio.create_subprocess_exec(*compiled_templates.COMMAND, str(into))
        for _ in range(4)
    ]
    assert [await child.wait() for child in children] == [0] * 4
    folders = list(into.iterdir())
    assert len(folders) == 1, folders  # no half-built `.building-` folder left behind
    sources = [path for path in TEMPLATES.rglob("*") if path.is_file()]
    assert len(list(folders[0].glob("tmpl_*.py"))) == len(sources)
    assert len(list((folders[0] / "__pycache__").glob("tmpl_*.pyc"))) == len(sources)


def test_the_command_compiles_once_and_names_the_folder(into: Path) -> None:
    run = [*compiled_templates.COMMAND, str(into)]
    first = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    made = Path(first).stat().st_mtime_ns
    again = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    assert first == again and Path(first).parent == into.resolve()
    assert Path(again).stat().st_mtime_ns == made  # kept, not made anew
    assert oct(Path(first).stat().st_mode & 0o777) == oct(0o755)  # readable by the workers


def env_of(templates: dict[str, str], **options: Any) -> Environment:
    return Environment(loader=DictLoader(templates), autoescape=True, **options)


def test_the_fingerprint_moves_with_what_the_compiled_code_depends_on() -> None:
    templates = {"a.html": "<p>{{ x }}</p>", "b.html": "{% extends 'a.html' %}"}
    same = compiled_templates.fingerprint(env_of(templates))
    assert compiled_templates.fingerprint(env_of(dict(reversed(templates.items())))) == same
    for changed in [
        env_of({**templates, "b.html": "{% extends 'a.html' %} "}),  # a source
        env_of({**templates, "c.html": ""}),  # a template more
        env_of(templates, trim_blocks=True),  # an option
        env_of(templates, enable_async=True),
        env_of(templates, extensions=["jinja2.ext.i18n"]),
    ]:
        assert compiled_templates.fingerprint(changed) != same
    # `python -OO` (as deployed) imports other byte code files than plain `python`.
    assert compiled_templates.fingerprint(env_of(templates), optimize=2) != same


def test_a_template_missing_from_the_folder_renders_from_its_source(into: Path) -> None:
    env = env_of({"a.html": "<p>{{ x }}</p>"})
    folder = compiled_templates.build(env, into)
    env.loader = ChoiceLoader([ModuleLoader(folder), DictLoader({"new.html": "new {{ x }}"})])
    assert env.get_template("a.html").render(x="<b>") == "<p>&lt;b&gt;</p>"
    assert env.get_template("new.html").render(x=1) == "new 1"


def test_a_build_sweeps_what_a_killed_child_left_but_not_a_build_in_progress(into: Path) -> None:
    left, building = into / ".building-killed", into / ".building-now"
    for folder in (left, building):
        (folder / "part").mkdir(parents=True)
    long_ago = time.time() - 3 * compiled_templates.BUILD_TIMEOUT_SECONDS
    os.utime(left, (long_ago, long_ago))
    folder = compiled_templates.build(env_of({"a.html": "a"}), into)
    assert sorted(path.name for path in into.iterdir()) == [".building-now", folder.name]
