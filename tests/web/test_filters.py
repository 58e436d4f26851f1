"""Times and numbers as pages show them: the table in `web.filters` says what CLDR says,
checked here against Babel, which reads CLDR itself, for every month, hour and language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from babel import Locale
from babel.dates import format_skeleton, format_time
from babel.numbers import format_decimal

from guestbook import config
from guestbook.i18n import number, using
from guestbook.web import filters


def babel_readable(when: datetime, language: str) -> str:
    """How the filter was written with Babel before its table (and what the table
    must keep saying)."""
    date = format_skeleton("yMMMd", when, tzinfo=UTC, locale=language)
    time = format_time(when, "short", tzinfo=UTC, locale=language)
    pattern = Locale.parse(language).datetime_formats["medium"]
    return pattern.replace("{1}", date).replace("{0}", time) + " UTC"


def test_the_table_has_every_language_of_the_site() -> None:
    languages = set(config.LANGUAGES)
    assert set(filters.FORMATS) == set(filters.MONTHS) == set(filters.PERIODS) == languages


@pytest.mark.parametrize("language", config.LANGUAGES)
def test_every_month_and_hour_reads_as_babel_writes_it(language: str) -> None:
    times = [
        datetime(year, month, day, hour, minute, tzinfo=UTC)
        for year in (2026, 999, 10_000 - 1)
        for month in range(1, 13)
        for day in (1, 9, 10, 28)
        for hour in range(24)  # midnight and noon are "12"
        for minute in (0, 9, 59)
    ]
    mismatched = [
        (when, filters._readable(when, language), babel_readable(when, language))
        for when in times
        if filters._readable(when, language) != babel_readable(when, language)
    ]
    assert mismatched == []


@pytest.mark.parametrize("language", config.LANGUAGES)
def test_a_time_in_another_zone_or_without_one_is_shown_in_utc(language: str) -> None:
    seoul = timezone(timedelta(hours=9))
    when = datetime(2027, 1, 1, 8, 30, tzinfo=seoul)  # 23:30 UTC on New Year's Eve
    assert filters._readable(when, language) == babel_readable(when, language)
    naive = datetime(2026, 12, 31, 23, 30)
    assert filters._readable(naive, language) == babel_readable(naive, language)
    assert filters._readable(naive, language) == filters._readable(when, language)
    assert "2026" in filters._readable(when, language)


@pytest.mark.parametrize("language", config.LANGUAGES)
async def test_numbers_are_grouped_as_babel_groups_them(app, language: str) -> None:
    values = [0, 7, -7, 999, 1_000, -1_000, 9_999, 1_234_567, 10**15]
    async with app.app_context():
        with using(language):
            shown = [number(value) for value in values]
    assert shown == [format_decimal(value, locale=language) for value in values]
