"""What each response adds to the figures and the log: its time in a histogram by
method, route template and status (`metrics`; the histogram's count is the requests),
and, where the logging config lets `guestbook.access` speak (the JSON log), one access
event.

The route is the URL rule (`/auth/reset/<token>`), never the path, so neither a
figure nor a log line holds a reset link's token, and the figures' labels stay few.
The last response step, so it sees the status that leaves (a 304 too).
"""

from __future__ import annotations

import logging
import time

from quart import Response, g, request

from guestbook.metrics import REQUESTS
from guestbook.metrics.batched import BatchedHistogram

log = logging.getLogger("guestbook.access")
UNMATCHED = "(unmatched)"  # a 404 for a URL no rule matched
# A method is a label, and a client can send any word: others count as one.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The labelled figure of each (method, route, status) seen, gathered in memory
# (`metrics.batched`): `labels()` takes a lock and builds a key each time, and a write
# to the figures' files takes another; a request here costs a lookup and two additions.
_children: dict[tuple[str, str, int], BatchedHistogram] = {}


async def record(response: Response) -> Response:
    here = g._get_current_object()  # the object, not its proxy (web.pipeline)
    started = here.get("request_started")  # unset only if the first step never ran
    seconds = time.perf_counter() - started if started is not None else 0.0
    asked = request._get_current_object()  # one look through the proxy, not three
    rule = asked.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    method = asked.method if asked.method in METHODS else "OTHER"
    status = response.status_code
    figure = _children.get((method, route, status))
    if figure is None:
        figure = _children[method, route, status] = BatchedHistogram(
            REQUESTS.labels(method, route, str(status))
        )
    figure.observe(seconds)
    if log.isEnabledFor(logging.INFO):
        user = here.get("user")
        log.info(
            "%s %s %s",
            method,
            route,
            status,
            extra={
                "event": "request",
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "bytes": response.content_length,
                "member": user.id if user is not None else None,
            },
        )
    return response
