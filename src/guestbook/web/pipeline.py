"""The path of a request, in one place: the steps every request takes before its view,
and every response (an error page's too) after it, in order.

`create_app` hands over the ordered lists, with the steps the features offer (the
member on `g`, the live sequence) among the web's own; one hook runs each list, and
no blueprint adds another, so no step can ever be reordered. (One hook, not a hook
per step: Quart's own work per hook was a large share of what a page with no work of
its own costs; bench/RESULTS.md, round four.)

The steps, and what they call on every request, read `request`, `g`, `session` and
`current_app` through the object behind each proxy (`_get_current_object()`), once
per function: every attribute read through a werkzeug context proxy costs about a
microsecond, ten times the object's own, and a member's kept page once read some
seventy of them (bench/RESULTS.md, round six).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from quart import Quart, Response

Step = Callable[[], Awaitable[None]]
ResponseStep = Callable[[Response], Awaitable[Response]]


def init_app(
    app: Quart,
    request_steps: Sequence[Step],
    response_steps: Sequence[ResponseStep],
    handshake_steps: Sequence[Step],
) -> None:
    """Run `request_steps` before each request's view, `response_steps` on each
    response, and `handshake_steps` before a WebSocket's handler."""
    request_steps, response_steps = tuple(request_steps), tuple(response_steps)
    handshake_steps = tuple(handshake_steps)

    async def before_request() -> None:
        for step in request_steps:
            await step()

    async def after_request(response: Response) -> Response:
        for step in response_steps:
            response = await step(response)
        return response

    async def before_websocket() -> None:
        for step in handshake_steps:
            await step()

    app.before_request(before_request)
    app.after_request(after_request)
    app.before_websocket(before_websocket)
