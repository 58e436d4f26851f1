"""Headers that every request asks about, read from the ASGI scope.

werkzeug's `request.headers.get` raises and catches an exception for each header that
is missing, and most requests lack most of what the path asks about (a request id, a
language, a condition, a body). The server gives names in lower case (ASGI).
"""

from __future__ import annotations

from quart import request


def _headers() -> list[tuple[bytes, bytes]]:
    # The request itself: an attribute read through its proxy costs ten times as much.
    return request._get_current_object().scope["headers"]


def header(name: bytes) -> str | None:
    """The first value of the header `name` (lower case), or None."""
    for key, value in _headers():
        if key == name:
            return value.decode("latin-1")
    return None


def has_any(names: frozenset[bytes]) -> bool:
    """Whether the request sent any of the headers `names` (lower case)."""
    return any(key in names for key, _value in _headers())
