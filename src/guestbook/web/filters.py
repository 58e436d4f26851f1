"""Template filters for times and numbers, in the request's language; a message's start."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from quart import Quart

from guestbook.i18n import locale, number

# The one date format pages show, per language, as CLDR has it (Babel's medium date and
# time, the date as skeleton "yMMMd", the time "short"; tests/web/test_filters.py checks
# every month and hour against Babel). Written out because Babel loads a language's
# whole CLDR table for them: about 4 MB in every worker, for two dozen words.
FORMATS = {
    "en": "{month} {day}, {year}, {hour}:{minute:02}\u202f{period} UTC",
    "ko": "{year}년 {month} {day}일 {period} {hour}:{minute:02} UTC",
}
MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "ko": tuple(f"{n}월" for n in range(1, 13)),
}
PERIODS = {"en": ("AM", "PM"), "ko": ("오전", "오후")}


def readable(when: datetime) -> str:
    """ "Nov 29, 2026, 2:05 PM UTC" / "2026년 11월 29일 오후 2:05 UTC": absolute and in
    UTC, so a cached page never goes stale; the page's script rewrites it in the
    reader's own zone, and without scripts "UTC" says which zone it is."""
    return _readable(when, locale())


@functools.lru_cache(maxsize=4096)  # a page's times come again on the next render
def _readable(when: datetime, language: str) -> str:
    when = when if when.tzinfo is None else when.astimezone(UTC)  # naive times are UTC
    return FORMATS[language].format(
        month=MONTHS[language][when.month - 1],
        day=when.day,
        year=when.year,
        hour=when.hour % 12 or 12,
        minute=when.minute,
        period=PERIODS[language][when.hour >= 12],
    )


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
