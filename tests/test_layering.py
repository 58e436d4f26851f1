"""The house rules of `src/guestbook`, read from the source itself: each package imports
only the layers below it (so no two packages import each other), nothing reads another
package's private names, only `create_app` imports a blueprint, a module that makes a
blueprint imports nothing from SQLAlchemy, and every module stays small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "guestbook"
# What each package (or top-level module) may import of the guestbook, as its
# `__init__` docstring says. The top (`__init__`'s create_app, `cli`, `asgi`) may
# import anything.
BELOW_FEATURES = {
    "config", "models", "forms", "lib", "metrics", "i18n", "db", "web", "cache", "mail"
}  # fmt: skip
MAY_IMPORT = {
    "lib": set(),
    # The figures' definitions: recorded by every layer above, knowing none of them.
    "metrics": set(),
    "config": {"lib"},
    "models": {"lib"},
    "i18n": {"config", "lib"},
    "forms": {"i18n", "models"},
    "db": {"config", "models", "lib", "metrics"},
    "web": {"config", "models", "db", "i18n", "lib", "metrics"},
    "cache": {"config", "models", "db", "web", "i18n", "lib", "metrics"},
    "mail": {"config", "models", "db", "web", "i18n", "lib", "metrics"},
    "limits": {"config", "models", "forms", "i18n", "lib", "metrics"},
    "live": {"config", "models", "db", "web", "lib", "metrics"},
    "accounts": BELOW_FEATURES | {"limits"},
    "messages": BELOW_FEATURES | {"limits", "accounts"},
    "moderation": BELOW_FEATURES | {"limits", "accounts", "messages"},
    # Backups, restores and the move between databases: the CLI's, beside the features.
    "ops": {"config", "models", "db", "lib"},
    # The JSON API: another front on the same services (it deletes others' messages
    # through moderation's), so above every feature it calls.
    "api": BELOW_FEATURES | {"accounts", "messages", "moderation"},
}
TOP = {"__init__", "cli", "asgi"}
MAX_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    """(dotted name below `guestbook`, path) of every module of the package."""
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        yield ".".join(parts), path


def owner(dotted: str) -> str:
    """The package (or top-level module) a module belongs to."""
    return dotted.split(".")[0]


def imports(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import of the guestbook in
    `path`, those inside functions included."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; the house imports absolutely")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("guestbook"):
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("guestbook"):
                    yield alias.name, []


def targets(module: str, names: list[str]) -> Iterator[str]:
    """The guestbook modules an import reaches: `from guestbook import db` is `db`."""
    below = module.removeprefix("guestbook").lstrip(".")
    if below:
        yield below
    for name in names:
        candidate = f"{below}.{name}" if below else name
        if (SRC / Path(*candidate.split("."))).with_suffix(".py").exists() or (
            SRC / Path(*candidate.split("."))
        ).is_dir():
            yield candidate


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = []
    for dotted, path in modules():
        home = owner(dotted)
        if home in TOP:
            continue
        allowed = MAY_IMPORT[home] | {home}
        for module, names in imports(path):
            for target in targets(module, names):
                if owner(target) not in allowed:
                    wrong.append(f"{dotted} imports {target}")
    assert wrong == []


def test_the_layers_have_no_cycle() -> None:
    """Checked on the table itself: a package never reaches itself through the others."""

    def reach(package: str, seen: frozenset[str]) -> None:
        for below in MAY_IMPORT[package]:
            assert below not in seen, f"cycle through {below}"
            reach(below, seen | {below})

    for package in MAY_IMPORT:
        reach(package, frozenset({package}))


def test_no_package_reads_another_packages_private_names() -> None:
    wrong = [
        f"{dotted} takes {name} from {module}"
        for dotted, path in modules()
        for module, names in imports(path)
        for name in names
        if name.startswith("_") and owner(module.removeprefix("guestbook.")) != owner(dotted)
    ]
    assert wrong == []


def blueprint_modules() -> set[str]:
    return {dotted for dotted, path in modules() if "Blueprint(" in path.read_text()}


def test_only_create_app_imports_a_blueprint() -> None:
    blueprints = blueprint_modules()
    assert len(blueprints) >= 10, "no blueprints found: the scan is broken"
    wrong = [
        f"{dotted} imports {target}"
        for dotted, path in modules()
        if dotted != "__init__"
        for module, names in imports(path)
        for target in targets(module, names)
        if target in blueprints
    ]
    assert wrong == []


def test_a_module_that_makes_a_blueprint_imports_nothing_from_sqlalchemy() -> None:
    wrong = [
        dotted
        for dotted, path in modules()
        if dotted in blueprint_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom | ast.Import)
        and any(
            name.startswith("sqlalchemy")
            for name in ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            + ([alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        )
    ]
    assert wrong == []


@pytest.mark.parametrize("dotted", [dotted for dotted, _path in modules()])
def test_no_module_is_over_400_lines(dotted: str) -> None:
    path = SRC / Path(*dotted.split(".")).with_suffix(".py")
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_each_package_says_what_it_holds_and_what_it_may_import() -> None:
    packages = sorted(path.parent for path in SRC.glob("*/__init__.py"))
    assert {path.name for path in packages} == set(MAY_IMPORT) - {"config", "models", "forms"}
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"{package.name}/__init__.py"


def test_at_most_a_dozen_modules_stay_at_the_top() -> None:
    assert len(list(SRC.glob("*.py"))) <= 12
