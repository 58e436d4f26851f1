"""Quart, with two answers it works out on every request remembered instead.

On every request Quart asks whether each function it is about to await is a coroutine
function (`ensure_async`: seven times for a member's kept page, the hooks, the view and
the session's save), and works out the request's blueprints at least three times
(before, after, teardown) through three properties. Neither answer changes while the
app serves: remembered, a member's kept page takes 4.6% fewer instructions
(bench/RESULTS.md, "Quart's per-request answers remembered"). Everything else is
Quart's own.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import quart
from quart.app import iscoroutinefunction as _asks  # the check Quart makes, as it makes it

# Bounded: a new closure per request (`after_this_request`) is kept only until 256
# others push it out.
_is_coroutine_function = functools.lru_cache(maxsize=256)(_asks)


@functools.cache  # one entry per endpoint, and the URL map has a fixed number of those
def _blueprints_of(endpoint: str) -> list[str]:
    """The blueprint of "a.b.view" and its parents, innermost first: ["a.b", "a"]."""
    parents = endpoint.split(".")[:-1]
    return [".".join(parents[:depth]) for depth in range(len(parents), 0, -1)]


class Request(quart.Request):
    @property
    def blueprints(self) -> list[str]:
        """As Quart's, from the matched rule's endpoint in one step."""
        rule = self.url_rule
        return [] if rule is None else _blueprints_of(rule.endpoint)


class App(quart.Quart):
    request_class = Request

    def ensure_async(self, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """As Quart's: `func` if it is a coroutine function, else run in a thread."""
        try:
            is_async = _is_coroutine_function(func)
        except TypeError:  # an unhashable callable: asked every time, as Quart does
            is_async = _asks(func)
        return func if is_async else self.sync_to_async(func)
