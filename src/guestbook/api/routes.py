"""The API's URLs, registered at startup without loading the API: its views, the
pydantic types they check and answer with, and quart-schema, which describes them,
weigh some 10 MB of every worker's memory (RSS right after `create_app`: 79.6 MB with
them, 69.6 MB without), and a worker serving pages never needs them.

Flask's lazily loaded views: each rule is registered here with no view, and the first
request to one (`load_when_asked`) connects every endpoint to its view in
`app.view_functions` and sets quart-schema up for the app (`docs.init_app`). An error
under /api/ imports only `problems` (`problem`).
"""

from __future__ import annotations

import importlib

from quart import Blueprint, Quart, Response, current_app, request
from werkzeug.exceptions import HTTPException

_EXT = "guestbook.api.routes"  # the app's endpoints still waiting for their view


class Part:
    """A blueprint of the API: its routes as (rule, method, view), each view a function
    of `module`; `tags`, the OpenAPI document's for its operations."""

    def __init__(
        self,
        name: str,
        module: str,
        routes: tuple[tuple[str, str, str], ...],
        tags: tuple[str, ...] = (),
        url_prefix: str | None = "/api/v1",
    ) -> None:
        self.bp = Blueprint(name, __name__, url_prefix=url_prefix)
        self.module, self.tags = module, tags
        self.views = tuple(view for _rule, _method, view in routes)
        for rule, method, view in routes:
            self.bp.add_url_rule(rule, view, methods=[method])


PARTS = (
    Part(
        "api_messages",
        "guestbook.api.messages",
        (
            ("/messages", "GET", "newest"),
            ("/messages/<int:message_id>", "GET", "one"),
            ("/messages", "POST", "write"),
            ("/messages/<int:message_id>", "PATCH", "edit"),
            ("/messages/<int:message_id>", "DELETE", "delete"),
            ("/messages/<int:message_id>/replies", "POST", "reply"),
            ("/messages/<int:message_id>/like", "PUT", "like"),
            ("/messages/<int:message_id>/like", "DELETE", "unlike"),
        ),
        tags=("messages",),
    ),
    Part(
        "api_members",
        "guestbook.api.members",
        (
            ("/users/<username>", "GET", "profile"),
            ("/users/<username>/messages", "GET", "messages"),
            ("/me", "GET", "me"),
        ),
        tags=("members",),
    ),
    Part("api_docs", "guestbook.api.docs", (("/api/docs", "GET", "page"),), url_prefix=None),
)
BLUEPRINTS = tuple(part.bp for part in PARTS)
OPENAPI = "openapi"  # /openapi.json's endpoint; its view is made by `docs.init_app`


def init_app(app: Quart) -> None:
    """/openapi.json, with no view yet, and the endpoints that wait for theirs."""
    app.add_url_rule("/openapi.json", OPENAPI)
    app.extensions[_EXT] = frozenset(
        {OPENAPI, *(f"{part.bp.name}.{view}" for part in PARTS for view in part.views)}
    )


async def load_when_asked() -> None:
    """A request step, before any step that reads what marks a view (the cookie login
    and the CSRF check skip a `bearer_only` one): a request to the API loads it."""
    app = current_app._get_current_object()
    waiting = app.extensions[_EXT]
    if waiting and request.endpoint in waiting:  # once loaded, a page asks no more
        load(app)


def load(app: Quart) -> None:
    """Connects every endpoint of the API to its view, and sets quart-schema up for
    `app`; its first request does, or whatever reads the views without one (tests)."""
    # Nothing here awaits, so two first requests on the event loop cannot interleave:
    # the second finds every view connected.
    from quart_schema import tag_blueprint  # noqa: PLC0415 (loaded on first use)

    from guestbook.api import docs  # noqa: PLC0415

    modules = []
    for part in PARTS:
        module = importlib.import_module(part.module)
        modules.append(module)
        for view in part.views:
            app.view_functions[f"{part.bp.name}.{view}"] = getattr(module, view)
        if part.tags:
            tag_blueprint(part.bp, part.tags)
    docs.init_app(app, OPENAPI, described=modules)
    app.extensions[_EXT] = frozenset()


async def problem(
    status: int, title: str, detail: str, headers: list, error: HTTPException
) -> Response:
    """The problem document for an error under /api/ (`web.errors`' front); `problems`
    is imported on the first one: it builds the answer with pydantic."""
    from guestbook.api import problems  # noqa: PLC0415

    return await problems.answer(status, title, detail, headers, error)
