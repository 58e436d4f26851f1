"""Liveness and readiness probes for a load balancer or an orchestrator.

Readiness is the database answering; the features add what else they depend on
(`init_app`'s `checks`: Redis, the live events' listener), reported but not required.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from quart import Blueprint, Quart, current_app

from guestbook import db

bp = Blueprint("ops", __name__)
log = logging.getLogger("guestbook.request")
_EXT = "guestbook.probes"
# A check answers its state in words, or None where it does not apply.
Check = Callable[[], Awaitable[str | None]]


@bp.get("/healthz")
async def healthz():
    """200 while the process runs."""
    return {"status": "ok"}


@bp.get("/readyz")
async def readyz():
    """200 when the database answers; 503 otherwise. Also says how what the features
    depend on is doing (Redis, PostgreSQL's LISTEN connection)."""
    checks: dict[str, str] = {}
    try:
        await db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready
        log.warning("readyz: database: %s", exc)
        checks["database"] = "unavailable"
    for name, check in current_app.extensions[_EXT].items():
        state = await check()
        if state is not None:
            checks[name] = state
    ready = checks["database"] == "ok"
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503


def init_app(app: Quart, checks: Mapping[str, Check]) -> None:
    app.extensions[_EXT] = dict(checks)
