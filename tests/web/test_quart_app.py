"""`web.quart_app`: Quart's answers remembered, never different from Quart's own.

The same nested blueprints on plain Quart and on ours run their hooks in the same
order and see the same `request.blueprints`; a plain function still runs in a thread;
and the app that `create_app` makes asks whether a hook is a coroutine function once,
not on every request.
"""

from __future__ import annotations

import threading

import pytest
from quart import Blueprint, Quart, request

from guestbook.web import quart_app
from support import CSRFClient

# Before: the app's hooks, then the outer blueprint's, then the inner's; after and
# teardown: the other way round (Flask's order, which Quart keeps).
EXPECTED = [
    "before app",
    "before outer",
    "before outer.inner",
    "view ['outer.inner', 'outer']",
    "after outer.inner",
    "after outer",
    "after app",
    "teardown outer.inner",
    "teardown outer",
    "teardown app",
]


def _nested(app_class: type[Quart]) -> tuple[Quart, list[str]]:
    app, seen = app_class(__name__), []

    def hooks(scope: Quart | Blueprint, name: str) -> None:
        @scope.before_request
        async def before() -> None:
            seen.append(f"before {name}")

        @scope.after_request
        async def after(response: object) -> object:
            seen.append(f"after {name}")
            return response

        @scope.teardown_request
        async def teardown(_exc: BaseException | None) -> None:
            seen.append(f"teardown {name}")

    outer, inner = Blueprint("outer", __name__), Blueprint("inner", __name__)

    @inner.get("/deep")
    async def deep() -> str:
        seen.append(f"view {request.blueprints}")
        return "deep"

    @app.get("/top")
    async def top() -> str:
        seen.append(f"view {request.blueprints}")
        return "top"

    hooks(app, "app")
    hooks(outer, "outer")
    hooks(inner, "outer.inner")
    outer.register_blueprint(inner)
    app.register_blueprint(outer)
    return app, seen


@pytest.mark.parametrize("app_class", [Quart, quart_app.App])
async def test_nested_blueprints_hooks_run_in_quarts_order(app_class: type[Quart]) -> None:
    app, seen = _nested(app_class)
    client = app.test_client()
    assert (await client.get("/deep")).status_code == 200
    assert (await client.get("/deep")).status_code == 200  # and again, remembered
    assert seen == EXPECTED * 2
    seen.clear()
    assert (await client.get("/top")).status_code == 200
    assert seen == ["before app", "view []", "after app", "teardown app"]
    seen.clear()
    assert (await client.get("/nowhere")).status_code == 404  # no rule matched
    assert seen == ["before app", "after app", "teardown app"]


async def test_a_plain_function_still_runs_in_a_worker_thread() -> None:
    app = quart_app.App(__name__)
    loop_thread = threading.get_ident()

    def plain() -> int:
        return threading.get_ident()

    async def coroutine() -> int:
        return threading.get_ident()

    assert app.ensure_async(coroutine) is coroutine
    for _ in range(2):  # the second time from what was remembered
        assert await app.ensure_async(plain)() != loop_thread

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self) -> int:
            return threading.get_ident()

    assert await app.ensure_async(Unhashable())() != loop_thread


async def test_the_app_asks_about_its_hooks_once(client: CSRFClient) -> None:
    assert isinstance(client.app, quart_app.App)
    assert (await client.get("/")).status_code == 200
    before = quart_app._is_coroutine_function.cache_info()
    assert (await client.get("/")).status_code == 200
    after = quart_app._is_coroutine_function.cache_info()
    assert after.misses == before.misses  # nothing asked of inspect
    assert after.hits - before.hits >= 5  # the hooks, the view, the session's save
