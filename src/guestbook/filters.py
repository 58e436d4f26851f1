"""Template filters for times: one readable form and one exact form."""

from __future__ import annotations

from datetime import datetime

from quart import Quart


def readable(when: datetime) -> str:
    """ "25 Nov 2026, 17:51 UTC": absolute, so a cached page never goes stale."""
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def iso(when: datetime) -> str:
    """For `<time datetime=...>`: exact, machine-readable."""
    return when.isoformat(timespec="seconds")


def init_app(app: Quart) -> None:
    app.add_template_filter(readable)
    app.add_template_filter(iso)
