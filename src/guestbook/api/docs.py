"""The API described: `/openapi.json`, an OpenAPI 3.1 document that quart-schema
generates from the routes and the types they are checked against (`schemas`), and
`/api/docs`, Swagger UI reading it, its script and styles served from `static/` (the
site's Content-Security-Policy allows no other origin). Both URLs are in `routes`,
which sets quart-schema up for an app (`init_app`) on the API's first request.

quart-schema's document is completed here with what it does not know: only the API's
routes, errors as `application/problem+json`, a 204 without a body, the headers an
answer carries (ETag, Location, Link, the rate limit's and the token challenge's), the
conditional request headers, and ids bounded as the routes bound them.

Both write the operations' and types' descriptions from their docstrings, which
`python -OO` (the deployment's workers, for their memory: README) drops; the API reads
them back from its source when it loads (`_docstrings_from_source`).
"""

from __future__ import annotations

import ast
import copy
import inspect
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from quart import Quart, render_template
from quart_schema import HttpSecurityScheme, Info, OpenAPIProvider, QuartSchema, hide
from werkzeug.routing import BaseConverter, IntegerConverter

from guestbook.api import schemas
from guestbook.api.auth import SCHEME
from guestbook.api.problems import PROBLEM
from guestbook.api.schemas import Problem

PREFIX = "/api/v1/"
_STRING = {"type": "string"}
HEADERS = {  # what an answer of each status carries
    "200": {"ETag": "The answer's version, for If-None-Match and If-Match."},
    "201": {"ETag": "The new resource's version.", "Location": "Where it is read."},
    "401": {"WWW-Authenticate": "The token challenge (RFC 6750)."},
    "403": {"WWW-Authenticate": "For a read token where writing needs a write one."},
    "429": {
        "Retry-After": "Seconds until the limit's window ends.",
        "RateLimit-Policy": "The limit reached (IETF draft).",
        "RateLimit": "What is left of it: none (IETF draft).",
    },
}
CONDITIONS = {
    "get": ("If-None-Match", "An ETag you have: 304 if it is still current."),
    "patch": ("If-Match", "The ETag you read: 412 if the message changed since."),
    "delete": ("If-Match", "The ETag you read: 412 if the message changed since."),
}


class ApiDocument(OpenAPIProvider):
    """The API's routes only, completed (see the module's docstring); made once."""

    _made: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        if self._made is None:
            self._made = _completed(super().schema())
        return copy.deepcopy(self._made)

    def generate_rules(self) -> Any:
        return (rule for rule in super().generate_rules() if rule.rule.startswith(PREFIX))

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, IntegerConverter):  # `db.RowIdConverter`'s bounds
            parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": converter.max}
        else:
            parameter["schema"] = {"type": "string", "pattern": "^[^/]+$"}
        return parameter

    def build_response_object(self, model: Any, headers_model: Any) -> tuple[dict, dict]:
        if model is None:
            return {"description": "Done; nothing to say."}, {}
        response, components = super().build_response_object(model, headers_model)
        if model is Problem:
            response["content"] = {PROBLEM: response["content"]["application/json"]}
        return response, components


def _completed(document: dict[str, Any]) -> dict[str, Any]:
    for path in document["paths"].values():
        for method, operation in path.items():
            # As JSON spells them (and sorts them: no ints among strings).
            operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
            for status, response in operation["responses"].items():
                headers = HEADERS.get(status, {})
                if status == "200" and method == "get":
                    headers = {**headers, "Link": 'The next page, rel="next" (lists).'}
                if headers:
                    response["headers"] = {
                        name: {"description": said, "schema": _STRING}
                        for name, said in headers.items()
                    }
            if method == "get":
                operation["responses"]["304"] = {"description": "Not modified."}
            # The router's own answer for an address another operation takes (an id past
            # its bound included: the router tells the method apart before the number).
            operation["responses"]["405"] = copy.deepcopy(operation["responses"]["401"])
            if method in CONDITIONS:
                name, said = CONDITIONS[method]
                operation["parameters"].append(
                    {"name": name, "in": "header", "description": said, "schema": _STRING}
                )
            if "security" not in operation:  # a public read: a token is checked if sent
                operation["security"] = [{}, {SCHEME: []}]
    return document


@hide
async def page() -> str:
    return await render_template("api/docs.html")


def _docstrings_from_source(modules: Iterable[ModuleType]) -> None:
    """Each top-level function's and class's docstring in `modules`, as written, back
    on the object under `python -OO`, which left it None."""
    if sys.flags.optimize < 2:
        return
    for module in modules:
        for node in ast.parse(inspect.getsource(module)).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                said = ast.get_docstring(node, clean=False)
                if said is not None:
                    getattr(module, node.name).__doc__ = said


def init_app(app: Quart, endpoint: str, described: Iterable[ModuleType] = ()) -> None:
    """quart-schema for `app`, and `endpoint` (/openapi.json's) answered with its
    document: the rule was registered at startup, when no new one could be now. The
    views of `described` and the API's types keep their docstrings under `-OO`."""
    _docstrings_from_source((*described, schemas))
    schema = QuartSchema(
        app,
        # No routes of its own: none can be added now, and its docs pages load their
        # assets from elsewhere (ours is `page`).
        openapi_path=None,
        info=Info(
            title="Guestbook API",
            version="1",
            description="The guestbook's messages and members as JSON. Make a token on "
            "your account page and send it as `Authorization: Bearer <token>`; reads need "
            "none. Errors are RFC 9457 problem documents, in your Accept-Language.",
        ),
        security_schemes={SCHEME: HttpSecurityScheme(type="http", scheme="bearer")},
        openapi_provider_class=ApiDocument,
    )
    # quart-schema wraps every view's answer to turn returned models into JSON; the
    # API's views answer Responses they built, so pages would pay for nothing.
    del app.make_response
    app.view_functions[endpoint] = schema.openapi
