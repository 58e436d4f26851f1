"""A request id on every request and response, and the log format that carries it;
reset tokens kept out of the access log."""

from __future__ import annotations

import logging
import re
import secrets

from quart import Response, g, has_app_context

from guestbook.lib import scope_headers

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
# A password-reset link's token is as good as the password for its lifetime.
_RESET_TOKEN_RE = re.compile(r"(/auth/reset/)[^\s?#\"]+")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record as `request_id` ("-" outside a
    request), so an app log line can be matched with its access log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = (g.get("request_id") if has_app_context() else None) or "-"
        return True


# What a client can smuggle into a log line: a decoded `%0A` in the path would start a
# forged line of its own, `%00` or an escape sequence would reach the terminal.
_UNPRINTABLE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


class AccessLogFilter(logging.Filter):
    """Access log lines show `/auth/reset/...` without the token, in the request line,
    the path and the Referer alike, and every control character a client sent escaped
    (`\\n`, `\\x00`), so one request is always one line. hypercorn passes its fields as
    one dict (`args`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            for key, value in record.args.items():
                if not isinstance(value, str):
                    continue
                if "/auth/reset/" in value:
                    value = _RESET_TOKEN_RE.sub(r"\1...", value)
                record.args[key] = _UNPRINTABLE_RE.sub(_escaped, value)
        return True


def guard_access_log() -> None:
    """Put `AccessLogFilter` on hypercorn's access logger (once), whatever logging
    config the server was given: a logger keeps its filters when its handlers change."""
    access = logging.getLogger("hypercorn.access")
    if not any(isinstance(f, AccessLogFilter) for f in access.filters):
        access.addFilter(AccessLogFilter())


# The `logging.config.dictConfig` that `guestbook serve` hands hypercorn (each worker
# applies it) unless the hypercorn TOML file brings its own `logconfig` or `logconfig_dict`.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": RequestIdFilter}},
    "formatters": {
        "app": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s "
            "request_id=%(request_id)s %(message)s",
        }
    },
    "handlers": {
        "app": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "app",
        }
    },
    "loggers": {"guestbook": {"level": "INFO", "handlers": ["app"], "propagate": False}},
}


async def assign_request_id() -> None:
    # Keep a well-formed id from the proxy so one id follows the request through logs.
    incoming = scope_headers.header(b"x-request-id") or ""
    g.request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else secrets.token_hex(8)


async def tag_response(response: Response) -> Response:
    """A response step: the request id, so its log lines can be found from the response."""
    request_id = g.get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response
