"""A request id on every request and response, and the log formats that carry it
(`GUESTBOOK_LOG_FORMAT`): readable lines (`text`, development's), or one JSON object
per line (`json`, production's) that a log shipper reads without a parser of ours;
reset tokens kept out of the access log."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

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


# What every record has: anything else on a record is a field it was given (`extra=`).
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, request id
    (null outside a request), message, and the fields given with `extra=` (an
    event's name and figures). ASCII only, so no character a value holds can start a
    line of its own or reach a terminal."""

    def __init__(self) -> None:
        super().__init__()
        # Python's warnings would print lines of their own: made records, they are JSON
        # too (the `py.warnings` logger below). Set where the JSON config is applied,
        # in each process that applies it.
        logging.captureWarnings(True)

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", "-")
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": None if request_id == "-" else request_id,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# SQLAlchemy names a pool's logger after its class, ours below `guestbook`: its INFO
# lines (each dispose) say nothing an operator needs.
_QUIET = {
    f"guestbook.db.{pool}": {"level": "WARNING"}
    for pool in ("sqlite_pool.FairPool", "metered.MeteredQueuePool")
}


# The `logging.config.dictConfig` that `guestbook serve` hands hypercorn (each worker
# applies it) unless the hypercorn TOML file brings its own `logconfig` or `logconfig_dict`.
# Readable lines: hypercorn writes the access log, the app its own lines.
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
    "loggers": {
        "guestbook": {"level": "INFO", "handlers": ["app"], "propagate": False},
        # The app's own access events are for the JSON log; hypercorn's line says it here.
        "guestbook.access": {"level": "WARNING"},
        **_QUIET,
    },
}
# One JSON object per line, hypercorn's own messages and the migrations' too. The app
# writes the access log (`web.access`: it knows the route template and the member),
# and `guestbook serve` turns hypercorn's off.
JSON_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": RequestIdFilter}},
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        **{
            name: {"level": "INFO", "handlers": ["json"], "propagate": False}
            for name in ("guestbook", "hypercorn.error", "alembic", "py.warnings")
        },
        **_QUIET,
    },
}


def logging_config(log_format: str) -> dict[str, Any]:
    """The dictConfig of `GUESTBOOK_LOG_FORMAT` (`json` or `text`)."""
    return JSON_LOGGING if log_format == "json" else LOGGING


async def assign_request_id() -> None:
    here = g._get_current_object()  # the object, not its proxy (web.pipeline)
    here.request_started = time.perf_counter()  # for `web.access`
    # Keep a well-formed id from the proxy so one id follows the request through logs.
    incoming = scope_headers.header(b"x-request-id") or ""
    here.request_id = incoming if _REQUEST_ID_RE.fullmatch(incoming) else secrets.token_hex(8)


async def tag_response(response: Response) -> Response:
    """A response step: the request id, so its log lines can be found from the response."""
    request_id = g._get_current_object().get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response
