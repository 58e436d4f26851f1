"""Template filters for times and numbers, in the request's language; a message's start."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from babel import Locale
from babel.dates import format_skeleton, format_time
from quart import Quart

from guestbook.i18n import locale, number


def readable(when: datetime) -> str:
    """ "Nov 29, 2026, 2:05 PM UTC" / "2026년 11월 29일 오후 2:05 UTC": absolute and in
    UTC, so a cached page never goes stale; the page's script rewrites it in the
    reader's own zone, and without scripts "UTC" says which zone it is."""
    return _readable(when, locale())


@functools.lru_cache(maxsize=4096)  # a page's times come again on the next render
def _readable(when: datetime, language: str) -> str:
    # Babel parses the locale and the patterns on every call: most of a page's i18n cost.
    date = format_skeleton("yMMMd", when, tzinfo=UTC, locale=language)
    time = format_time(when, "short", tzinfo=UTC, locale=language)
    pattern = Locale.parse(language).datetime_formats["medium"]
    return pattern.replace("{1}", date).replace("{0}", time) + " UTC"


def iso(when: datetime) -> str:
    """For `<time datetime=...>`: exact, machine-readable."""
    return when.isoformat(timespec="seconds")


def excerpt(body: str, length: int = 80) -> str:
    """A message on one line, cut to `length` characters: a feed entry's title, a log's."""
    line = " ".join(body.split())
    return line if len(line) <= length else line[: length - 1] + "…"


def init_app(app: Quart) -> None:
    for template_filter in (readable, iso, excerpt, number):
        app.add_template_filter(template_filter)
