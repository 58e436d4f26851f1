"""Conditional responses: an ETag on every HTML page, and a 304 when the browser has it."""

from __future__ import annotations

import hashlib

from quart import Response, request

from guestbook.lib import scope_headers

# The headers that make a request conditional (werkzeug's `make_conditional` reads them).
_CONDITIONS = frozenset(
    (b"if-none-match", b"if-match", b"if-modified-since", b"if-unmodified-since", b"range")
)


def etag(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


async def body_of(response: Response) -> bytes:
    """The body, read as it is when the view gave a str or bytes: `get_data` iterates
    it asynchronously, a cost every page would pay (bench/RESULTS.md, round five)."""
    if isinstance(response.response, response.data_body_class):
        return response.response.data
    return await response.get_data()


async def answer_conditionally(response: Response) -> Response:
    """A response step: an ETag on every HTML page, and a 304 when the browser has
    that page."""
    if request._get_current_object().method != "GET" or response.status_code != 200:
        return response
    if response.mimetype != "text/html":
        return response
    if "ETag" not in response.headers:
        response.set_etag(etag(await body_of(response)))
    if not scope_headers.has_any(_CONDITIONS):
        return response
    return await response.make_conditional(request)
