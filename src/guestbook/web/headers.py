"""Security headers on every response: the parts of Talisman this app needs."""

from __future__ import annotations

import functools

from quart import Response, g

from guestbook import config
from guestbook.i18n import DEFAULT as DEFAULT_LANGUAGE

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",  # no inline scripts: popup.js is a static file
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
_PRODUCTION_HEADERS = (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
# Pages show per-visitor state (menu, CSRF token): never cache them in shared caches.
_PAGE_HEADERS = (("Cache-Control", "private, no-cache"),)


@functools.cache  # four lists, made once rather than on every response
def _defaults(production: bool, page: bool) -> tuple[tuple[str, str, str], ...]:
    """(name, name in lower case, value) of each header a response gets."""
    chosen = _HEADERS + _PRODUCTION_HEADERS * production + _PAGE_HEADERS * page
    return tuple((key, key.lower(), value) for key, value in chosen)


async def add_security_headers(response: Response) -> Response:
    """A response step: each header unless the view set its own (one pass, not a search
    per header); and on pages, what their language depends on (see `i18n`)."""
    headers = response.headers
    present = {key.lower() for key, _value in headers.items()}
    page = response.mimetype == "text/html"
    for key, lowered, value in _defaults(config.current().is_production, page):
        if lowered not in present:
            headers.add(key, value)
    if page:
        # A shared cache must key a page on the cookie and Accept-Language: one Vary
        # header, whatever the view's says.
        if "vary" in present:
            response.vary.update(("Cookie", "Accept-Language"))
        else:
            headers.add("Vary", "Cookie, Accept-Language")
        language = g._get_current_object().get("locale", DEFAULT_LANGUAGE)
        if "content-language" in present:
            headers["Content-Language"] = language
        else:  # the same, without a search through the headers for one to replace
            headers.add("Content-Language", language)
    return response
