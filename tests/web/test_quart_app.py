"""`web.quart_app`: Quart's answers remembered, never different from Quart's own.

The same nested blueprints on plain Quart and on ours run their hooks in the same
order and see the same `request.blueprints`; a plain function still runs in a thread;
the app that `create_app` makes asks whether a hook is a coroutine function once,
not on every request; and a request handled in one task behaves as in Quart's three: a
client that leaves cancels it, a server's cancel stops it, a response sent too slowly
is dropped after its timeout, and an error is a page.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from quart import Blueprint, Quart, Response, request

from guestbook.web import quart_app
from support import CSRFClient, http_scope

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


# --- one task per request ---------------------------------------------------------

BOTH = pytest.mark.parametrize("app_class", [Quart, quart_app.App])


class _Client:
    """An ASGI server's side of one request: the body at once, then `http.disconnect`
    when `leave` is set; what the app sent; `send` blocks while `blocked` is set."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.leave, self.blocked = asyncio.Event(), asyncio.Event()
        self._asked = False

    async def receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self.blocked.is_set():
            await asyncio.Event().wait()  # a client that never reads
        self.sent.append(message)

    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")


def _waiting_app(app_class: type[Quart]) -> tuple[Quart, dict[str, Any]]:
    app, seen = app_class(__name__), {"started": asyncio.Event(), "cancelled": False}

    @app.get("/wait")
    async def wait() -> str:
        seen["started"].set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise
        return "never"

    @app.get("/slow-to-send")
    async def slow_to_send() -> Response:
        response = Response("a page")
        response.timeout = 0.05
        return response

    @app.get("/broken")
    async def broken() -> str:
        raise RuntimeError("a bug")

    return app, seen


@BOTH
async def test_a_client_that_leaves_cancels_its_request(app_class: type[Quart]) -> None:
    app, seen = _waiting_app(app_class)
    client = _Client()
    served = asyncio.create_task(app(http_scope("/wait"), client.receive, client.send))
    await asyncio.wait_for(seen["started"].wait(), 5)
    client.leave.set()
    await asyncio.wait_for(served, 5)  # ends, and without an error
    assert seen["cancelled"]
    assert not served.cancelled()
    assert client.sent == []


async def test_the_servers_cancel_stops_the_request() -> None:
    """(Quart's own leaves its handler's task running: `asyncio.wait` cancels none.)"""
    app, seen = _waiting_app(quart_app.App)
    client = _Client()
    served = asyncio.create_task(app(http_scope("/wait"), client.receive, client.send))
    await asyncio.wait_for(seen["started"].wait(), 5)
    served.cancel()
    with pytest.raises(asyncio.CancelledError):
        await served
    assert seen["cancelled"]


@BOTH
async def test_a_response_sent_too_slowly_is_dropped_after_its_timeout(
    app_class: type[Quart],
) -> None:
    app, _seen = _waiting_app(app_class)
    client = _Client()
    client.blocked.set()
    # Returns once the response's 0.05 s are up; the client left later changes nothing.
    await asyncio.wait_for(app(http_scope("/slow-to-send"), client.receive, client.send), 5)
    assert client.sent == []


@BOTH
async def test_an_error_and_an_answer_are_sent_whole(app_class: type[Quart]) -> None:
    app, _seen = _waiting_app(app_class)
    for path, status in (("/broken", 500), ("/slow-to-send", 200), ("/nowhere", 404)):
        client = _Client()
        await asyncio.wait_for(app(http_scope(path), client.receive, client.send), 5)
        assert client.status() == status
        assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_request_starts_one_task(client: CSRFClient) -> None:
    """Quart starts three (a reader, the handler, and on Python 3.11 `wait_for`'s);
    ours only the reader."""
    started: dict[str, int] = {}

    async def count(app: Quart) -> int:
        loop = asyncio.get_running_loop()
        tasks = 0

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task:
            nonlocal tasks
            tasks += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        asgi = _Client()
        loop.set_task_factory(factory)
        try:
            await app(http_scope("/top"), asgi.receive, asgi.send)
        finally:
            loop.set_task_factory(None)
        assert asgi.status() == 200
        return tasks

    for app_class in (Quart, quart_app.App):
        app, _seen = _nested(app_class)
        started[app_class.__name__] = await count(app)
    assert started["App"] == 1
    assert started["Quart"] >= 2
    assert isinstance(client.app, quart_app.App)
    assert client.app.asgi_http_class is quart_app.HTTPConnection
