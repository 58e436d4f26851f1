"""The countdown on `g`: the pure function at its edges, and every page's header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from guestbook.models import utcnow
from guestbook.web.countdown import countdown
from guestbook.web.filters import readable
from support import page_text

TARGET = datetime(2027, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
KST = timezone(timedelta(hours=9))


@pytest.mark.parametrize(
    ("now", "badge", "passed"),
    [
        (TARGET, "D-day", True),  # exactly zero
        (TARGET - SECOND, "D-1", False),
        (TARGET + SECOND, "D-day", True),
        (TARGET + DAY - SECOND, "D-day", True),
        (TARGET + DAY, "D+1", True),
        (TARGET - DAY, "D-1", False),  # the D-1 period starts exactly a day before
        (TARGET - DAY - SECOND, "D-2", False),
        (TARGET - 12 * DAY, "D-12", False),
        (TARGET + 3 * DAY + timedelta(hours=5), "D+3", True),
    ],
)
def test_boundaries(now: datetime, badge: str, passed: bool) -> None:
    result = countdown(TARGET, now, "New Year")
    assert (result.badge, result.passed, result.label) == (badge, passed, "New Year")


def test_days_hours_minutes_are_the_exact_time_left_or_since() -> None:
    before = countdown(TARGET, TARGET - timedelta(days=1, hours=2, minutes=3, seconds=59))
    assert (before.days, before.hours, before.minutes, before.badge) == (1, 2, 3, "D-2")
    after = countdown(TARGET, TARGET + timedelta(days=3, hours=23, minutes=59, seconds=59))
    assert (after.days, after.hours, after.minutes, after.badge) == (3, 23, 59, "D+3")
    zero = countdown(TARGET, TARGET)
    assert (zero.days, zero.hours, zero.minutes) == (0, 0, 0)


def test_time_zones_compare_instants_not_wall_clocks() -> None:
    seoul_midnight = datetime(2027, 1, 1, tzinfo=KST)  # = 2026-12-31 15:00 UTC
    assert countdown(seoul_midnight, datetime(2026, 12, 31, 15, tzinfo=UTC)).badge == "D-day"
    assert countdown(seoul_midnight, datetime(2026, 12, 31, 14, 59, 59, tzinfo=UTC)).badge == "D-1"
    # Midnight UTC is already nine hours into the day in Seoul.
    late = countdown(seoul_midnight, TARGET)
    assert (late.badge, late.days, late.hours, late.minutes) == ("D-day", 0, 9, 0)
    # The same instant written in two zones gives the same answer.
    now_kst = datetime(2026, 12, 20, 18, 30, tzinfo=KST)
    assert countdown(TARGET, now_kst) == countdown(TARGET, now_kst.astimezone(UTC))


def test_leap_day_counts_as_a_day() -> None:
    leap_day = datetime(2028, 2, 29, tzinfo=UTC)
    assert countdown(leap_day, datetime(2028, 2, 28, tzinfo=UTC)).badge == "D-1"
    assert countdown(leap_day, datetime(2028, 2, 28, 0, 0, 1, tzinfo=UTC)).badge == "D-1"
    assert countdown(leap_day, datetime(2028, 3, 1, tzinfo=UTC)).badge == "D+1"
    to_march = countdown(datetime(2028, 3, 1, tzinfo=UTC), datetime(2028, 2, 28, tzinfo=UTC))
    assert (to_march.badge, to_march.days) == ("D-2", 2)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        countdown(datetime(2027, 1, 1), TARGET)
    with pytest.raises(ValueError):
        countdown(TARGET, datetime(2026, 12, 1))


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # 12 days and an hour ahead: "D-13" for the whole test, however slow the machine. A
    # whole second, as GUESTBOOK_COUNTDOWN_DATE is read: the countdown is read to the second.
    return {
        **settings_overrides,
        "countdown_date": (utcnow() + timedelta(days=12, hours=1)).replace(microsecond=0),
        "countdown_label": "Graduation",
    }


@pytest.mark.parametrize("path", ["/", "/auth/login", "/users/alice", "/no/such/page"])
async def test_every_page_header_shows_the_countdown(app, client, auth, path: str) -> None:
    await auth.signup("alice")
    response = await client.get(path)
    assert response.status_code == (404 if path == "/no/such/page" else 200)
    html = await page_text(response)
    header = html.split("</header>")[0]
    assert 'class="countdown"' in header
    assert "Graduation <strong>D-13</strong>" in header
    # The target itself, not the hours and minutes left: the page stays the same all day.
    target = app.config["SETTINGS"].countdown_date
    assert f'title="{readable(target)}"' in header
    assert " h " not in header and " min" not in header


async def test_a_refused_requests_error_page_shows_the_countdown_too(client) -> None:
    response = await client.post("/messages", form={"body": "hi"}, csrf=False)
    assert response.status_code == 400
    header = (await page_text(response)).split("</header>")[0]
    assert "Graduation <strong>D-13</strong>" in header


async def test_requests_in_one_second_share_one_countdown_and_the_next_second_moves_it(
    app, monkeypatch
) -> None:
    from quart import g

    from guestbook.web import countdown as module

    target = app.config["SETTINGS"].countdown_date
    seen = []
    for now in (target - 2 * SECOND, target - SECOND / 3, target - SECOND / 5, target):
        monkeypatch.setattr(module, "utcnow", lambda now=now: now)
        async with app.test_request_context("/"):
            await module.put_countdown_on_g()
            seen.append(g.countdown)
    assert [c.badge for c in seen] == ["D-1", "D-1", "D-1", "D-day"]
    assert seen[1] is seen[2]  # one answer for the second, not worked out again
    assert seen[0] is not seen[1] and seen[3].passed
