"""Templates compiled once per release by a short-lived process, not in every worker.

Jinja compiles a template to Python the first time a worker renders it: a lexer, a
parser, a code generator and `compile()`, whose scratch memory stays in the worker's
heap for good (about 2 MB of a page worker's RSS for these templates; bench/RESULTS.md,
"Page workers' memory"). In production a worker instead imports them as Python modules
(Jinja's `ModuleLoader`) from `GUESTBOOK_COMPILED_TEMPLATES_PATH` (by default in the
instance folder). A child process (`guestbook compile-templates PATH`) compiles them
there before the worker serves its first request, once: the folder is named by a
fingerprint of all the compiled code depends on (the sources, Jinja's and Python's
versions, the environment's options and extensions), so an edit makes a new folder and
nothing stale is ever loaded. If it cannot be made (a read-only folder, a child that
failed), templates compile in the worker as before. Not in development, where an edited
template is read again on its next render.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import hashlib
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jinja2
from jinja2 import ChoiceLoader, Environment, ModuleLoader
from quart import Quart

from guestbook.config import Settings

log = logging.getLogger(__name__)
BUILD_TIMEOUT_SECONDS = 60
# `guestbook compile-templates`, as this interpreter runs it (a venv need not be on PATH).
COMMAND = (sys.executable, "-m", "guestbook.cli", "compile-templates")
# What changes the code Jinja generates, beside the sources and the extensions.
OPTIONS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
    "newstyle_gettext",
)


def fingerprint(env: Environment, optimize: int = sys.flags.optimize) -> str:
    digest = hashlib.sha256()

    def add(part: str | bytes) -> None:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)

    add(jinja2.__version__)
    add(sys.implementation.cache_tag)
    add(str(optimize))  # the byte code's level: `python -OO` imports `.opt-2.pyc`
    for option in OPTIONS:
        add(repr(getattr(env, option, None)))
    # A callable autoescape is asked per template name as it compiles.
    add(getattr(env.autoescape, "__qualname__", repr(env.autoescape)))
    for name, extension in sorted(env.extensions.items()):
        add(name)
        add(Path(sys.modules[type(extension).__module__].__file__ or "").read_bytes())
    for name in sorted(env.list_templates()):  # Quart lists them from a set
        add(name)
        add(env.loader.get_source(env, name)[0])  # type: ignore[union-attr]
    return digest.hexdigest()[:32]


def root(settings: Settings) -> Path:
    """The folder of the releases' compiled templates."""
    chosen = settings.compiled_templates_path or settings.instance_path / "compiled-templates"
    return Path(chosen).resolve()


def init_app(app: Quart, settings: Settings) -> None:
    if not settings.is_production:
        return

    @app.before_serving
    async def _load_compiled_templates() -> None:
        env, into = app.jinja_env, root(settings)
        folder = into / fingerprint(env)
        if not folder.is_dir():
            await _build(into)
        if folder.is_dir():
            env.loader = ChoiceLoader([ModuleLoader(folder), env.loader])  # type: ignore[list-item]
        else:
            log.warning("templates not compiled ahead in %s: compiling in this worker", folder)


async def _build(into: Path) -> None:
    # Its answer (the folder) is not a log line; its errors, if any, are.
    child = await asyncio.create_subprocess_exec(
        *COMMAND, str(into), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await asyncio.wait_for(child.wait(), BUILD_TIMEOUT_SECONDS)
    except TimeoutError:
        child.kill()
        await child.wait()


def _sweep(into: Path) -> None:
    """Folders left by children killed mid-build (at their parent's timeout, their own
    clean-up never ran). A child still building is younger than its timeout: its folder
    is left alone."""
    cutoff = time.time() - 2 * BUILD_TIMEOUT_SECONDS
    for left in into.glob(".building-*"):
        with contextlib.suppress(OSError):  # another child swept it first
            if left.stat().st_mtime < cutoff:
                shutil.rmtree(left)


def build(env: Environment, into: Path) -> Path:
    """Compile every template of `env` into a folder of `into` named by its
    fingerprint: a worker whose fingerprint differs never loads it."""
    folder = into / fingerprint(env)
    into.mkdir(parents=True, exist_ok=True)
    _sweep(into)
    if folder.is_dir():
        return folder
    # Made aside and renamed into place: a worker sees all of it or none, and of two
    # children racing (two workers starting at once) one rename wins.
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".building-"))
    building.chmod(0o755)  # mkdtemp's is 0700: workers may run as another user
    try:
        env.compile_templates(building, zip=None, ignore_errors=False)
        compileall.compile_dir(building, quiet=1)  # workers load marshalled code
        building.rename(folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder
