"""Where the site sends people: `next` targets kept on this site, routing redirects that
cannot point elsewhere, and absolute links for mail and feeds."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from quart import Response, current_app, request
from werkzeug.routing import RequestRedirect

from guestbook import config


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirects).

    Browsers read `//host`, `/\\host` and `https:host`-like forms as other sites,
    so only a plain absolute path with no backslash or control character passes.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


async def routing_redirect_stays_here(response: Response) -> Response:
    """A response step: werkzeug's redirect from `//users/x` to `/users/x` is built
    from the Host header; keep only its path, so it can never point at another site."""
    routed = request._get_current_object().routing_exception
    if isinstance(routed, RequestRedirect) and response.location:
        target = urlsplit(response.location)
        response.location = urlunsplit(("", "", target.path, target.query, ""))
    return response


def absolute_url(path: str) -> str:
    """A link for a mail or a feed: `GUESTBOOK_BASE_URL` + a path from `url_for`."""
    return config.current().base_url.rstrip("/") + path


def external_url(endpoint: str, **values: object) -> str:
    """An absolute link to `endpoint` on `GUESTBOOK_BASE_URL`, with or without a request:
    the mail sender's gathered mail has none."""
    base = urlsplit(config.current().base_url)
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
