"""Every step on a request's path runs on the event loop. Quart runs a hook that is a
plain function in a worker thread: a thread round trip on every request (a
`before_request` step did that once, costing every page a hop to the executor)."""

import inspect

import pytest
from quart import Quart

import guestbook

HOOKS = (
    "before_request_funcs",
    "after_request_funcs",
    "teardown_request_funcs",
    "before_websocket_funcs",
    "after_websocket_funcs",
    "teardown_websocket_funcs",
    "template_context_processors",
)


@pytest.mark.parametrize("hooks", HOOKS)
def test_every_hook_is_a_coroutine_function(app: Quart, hooks: str) -> None:
    plain = [
        f"{scope or 'app'}: {function.__qualname__}"
        for scope, functions in getattr(app, hooks).items()
        for function in functions
        if not inspect.iscoroutinefunction(function)
    ]
    assert plain == [], f"these {hooks} would run in a worker thread"


@pytest.mark.parametrize("steps", ["REQUEST_STEPS", "RESPONSE_STEPS", "HANDSHAKE_STEPS"])
def test_every_step_on_the_path_is_a_coroutine_function(steps: str) -> None:
    plain = [
        step.__qualname__
        for step in getattr(guestbook, steps)
        if not inspect.iscoroutinefunction(step)
    ]
    assert plain == [], f"these {steps} would block the event loop or never be awaited"


def test_the_path_is_one_hook_each_way(app: Quart) -> None:
    """No blueprint adds a step of its own, so none can be reordered."""
    ours = [
        function.__module__
        for hooks in ("before_request_funcs", "after_request_funcs", "before_websocket_funcs")
        for functions in getattr(app, hooks).values()
        for function in functions
        if function.__module__.startswith("guestbook")
    ]
    assert ours == ["guestbook.web.pipeline"] * 3
