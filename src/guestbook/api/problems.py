"""Errors as RFC 9457 problem documents (`application/problem+json`), in the request's
language: every error under /api/ (the web's error handler hands them here), and the
two kinds only the API raises: a body that is not the JSON the operation takes, and
fields a service refused (422, each field named)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Response, g, request
from quart_schema import document_request, document_response
from werkzeug.exceptions import BadRequest, HTTPException, UnprocessableEntity, UnsupportedMediaType

from guestbook.api.schemas import FieldProblem, Problem
from guestbook.forms import FieldError
from guestbook.i18n import DEFAULT, gettext

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
PROBLEM = "application/problem+json"
INVALID_FIELDS = "urn:guestbook:problem:invalid-fields"


class InvalidFields(UnprocessableEntity):
    """Fields the operation refused, each with what is wrong with it."""

    def __init__(self, fields: list[FieldProblem]) -> None:
        names = ", ".join(problem.field for problem in fields)
        super().__init__(gettext("Some fields were refused: %(names)s.", names=names))
        self.fields = fields

    @classmethod
    def of(cls, error: FieldError) -> InvalidFields:
        return cls([FieldProblem(field=error.field, message=error.message)])


def fails(*statuses: int) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Describes the errors an operation may answer, each a problem document."""

    def decorator(view: Callable[P, T]) -> Callable[P, T]:
        for status in statuses:
            view = document_response(Problem, status)(view)
        return view

    return decorator


def _said(error: dict[str, Any]) -> str:
    """pydantic's reason for refusing a field, in the request's language."""
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return gettext("This field is required.")
    if kind == "extra_forbidden":
        return gettext("This operation takes no such field.")
    if kind == "string_type":
        return gettext("This field takes text.")
    if kind == "string_too_short":
        return gettext("This field may not be empty.")
    if kind == "string_too_long":
        return gettext("At most %(num)s characters.", num=context.get("max_length"))
    return gettext("This value is not one the field takes.")


def refused(error: ValidationError) -> HTTPException:
    """A body pydantic refused: a 400 when it is no JSON object at all, else a 422."""
    errors = error.errors(include_url=False)
    if any(not found["loc"] for found in errors):
        if any(found["type"] == "json_invalid" for found in errors):
            return BadRequest(gettext("The body is not valid JSON."))
        return BadRequest(gettext("The body must be a JSON object."))
    return InvalidFields(
        [
            FieldProblem(field=".".join(str(part) for part in found["loc"]), message=_said(found))
            for found in errors
        ]
    )


def takes(model: type[M]) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """The view takes a JSON body of `model`, passed as `data`: described in the
    OpenAPI document and checked against the same type."""

    def decorator(view: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @wraps(view)
        async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
            if request.mimetype != "application/json":
                raise UnsupportedMediaType(gettext("Send JSON, as Content-Type: application/json."))
            try:
                data = model.model_validate_json(await request.get_data())
            except ValidationError as error:
                raise refused(error) from None
            return await view(*args, data=data, **kwargs)  # type: ignore[call-arg]

        return document_request(model)(wrapped)

    return decorator


async def answer(
    status: int, title: str, detail: str, headers: list, error: HTTPException
) -> Response:
    """The problem document for an error under /api/ (`web.errors`' front)."""
    problem = Problem(title=title, status=status, detail=detail)
    if isinstance(error, InvalidFields):
        problem.type, problem.errors = INVALID_FIELDS, error.fields
    response = Response(
        problem.model_dump_json(exclude_none=True), status, headers, content_type=PROBLEM
    )
    response.headers["Content-Language"] = g.get("locale", DEFAULT)
    response.headers["Vary"] = "Accept-Language"
    return response
