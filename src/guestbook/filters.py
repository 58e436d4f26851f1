"""Template filters: times in one readable form and one exact form; a message's start."""

from __future__ import annotations

from datetime import datetime

from quart import Quart


def readable(when: datetime) -> str:
    """ "25 Nov 2026, 17:51 UTC": absolute, so a cached page never goes stale."""
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def iso(when: datetime) -> str:
    """For `<time datetime=...>`: exact, machine-readable."""
    return when.isoformat(timespec="seconds")


def excerpt(body: str, length: int = 80) -> str:
    """A message on one line, cut to `length` characters: a feed entry's title, a log's."""
    line = " ".join(body.split())
    return line if len(line) <= length else line[: length - 1] + "…"


def init_app(app: Quart) -> None:
    app.add_template_filter(readable)
    app.add_template_filter(iso)
    app.add_template_filter(excerpt)
