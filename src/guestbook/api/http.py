"""HTTP as the API speaks it: JSON answers with an ETag, `If-None-Match` answered with
a 304, `If-Match` on writes answered with a 412 when the resource changed since, and
CORS for the origins `GUESTBOOK_API_CORS_ORIGINS` lists.

An ETag is a hash of the answer's body, as the pages' are: a message's changes its
text, edit time and counts, and its replies' too, whatever changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quart import Response, request
from werkzeug.exceptions import PreconditionFailed

from guestbook import config
from guestbook.i18n import gettext
from guestbook.lib import scope_headers
from guestbook.web.conditional import etag

if TYPE_CHECKING:  # `add_cors_headers` runs on every response: no pydantic for pages
    from pydantic import BaseModel

JSON = "application/json"
# What a script on a listed origin may read of an answer, beyond the simple headers.
EXPOSED = "ETag, Link, Location, Retry-After, RateLimit, RateLimit-Policy, WWW-Authenticate"
REQUEST_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match"
READS, WRITES = "GET, HEAD, OPTIONS", "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"
PREFLIGHT_SECONDS = "600"


def encoded(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def answer(body: bytes, status: int = 200, **headers: str) -> Response:
    """A JSON answer with its ETag; a 304 for a GET whose `If-None-Match` names it."""
    response = Response(body, status, content_type=JSON)
    response.set_etag(etag(body))
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    fresh = response.get_etag()[0] in request.if_none_match
    if request.method in ("GET", "HEAD") and status == 200 and fresh:
        return Response(status=304, headers={"ETag": response.headers["ETag"]})
    return response


def unchanged(current: bytes) -> None:
    """A write's precondition: its `If-Match`, if sent, must name the resource as it is
    now (the ETag of its GET), else 412 and nothing is written."""
    if request.if_match and not request.if_match.contains(etag(current)):
        raise PreconditionFailed(
            gettext("The message changed since you read it: read it again, then retry.")
        )


async def add_cors_headers(response: Response) -> Response:
    """A response step: an API answer to a listed origin says so (and, to a preflight,
    which methods and headers it may send). Other origins get no CORS header, so their
    pages cannot read what the API says, nor send it anything but a simple request."""
    # From the scope: werkzeug's `headers.get` raises and catches for a missing header.
    origin = scope_headers.header(b"origin")
    if origin is None or not request.path.startswith("/api/"):
        return response
    settings = config.current()
    response.vary.add("Origin")
    if origin not in settings.cors_origins:
        return response
    if not settings.api_cors_write and request.method not in ("GET", "HEAD", "OPTIONS"):
        # Its preflight offered no writes, so a browser never sent this: a script
        # outside one is no matter of CORS, and is answered as anyone is.
        return response
    headers = response.headers
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSED
    if request.method == "OPTIONS":
        headers["Access-Control-Allow-Methods"] = WRITES if settings.api_cors_write else READS
        headers["Access-Control-Allow-Headers"] = REQUEST_HEADERS
        headers["Access-Control-Max-Age"] = PREFLIGHT_SECONDS
    return response
