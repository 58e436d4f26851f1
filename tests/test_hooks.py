"""Every step on a request's path runs on the event loop. Quart runs a hook that is a
plain function in a worker thread: a thread round trip on every request (a
`before_request` step did that once, costing every page a hop to the executor)."""

import inspect

import pytest
from quart import Quart

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
