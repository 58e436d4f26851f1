"""The lecture's `g` exercise: time left to a date, put on `g` for every request.

`countdown()` is a pure function (easy to test at its edges); the hook puts its
answer on `g.countdown`, where `base.html` reads it for every page's header.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from quart import g

from guestbook import config
from guestbook.i18n import N_
from guestbook.models import utcnow

N_("New Year")  # GUESTBOOK_COUNTDOWN_LABEL's default: base.html translates the label
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Countdown:
    label: str
    badge: str  # "D-12" before the day, "D-day" for the 24 hours from the target, "D+3" after
    days: int  # the exact time to (or since) the target: whole days, then hours and minutes
    hours: int
    minutes: int
    passed: bool
    # The page shows the target, not hours and minutes left: so a page stays the same
    # all day, and readers without cookies can share one cached copy (`cache.page_cache`).
    target: datetime


def countdown(target: datetime, now: datetime, label: str = "") -> Countdown:
    """Time from aware `now` to aware `target`: one second before is "D-1", the
    moment itself "D-day", a day later "D+1"."""
    if target.tzinfo is None or now.tzinfo is None:
        raise ValueError("countdown needs aware datetimes")
    delta = target - now
    passed = delta <= timedelta(0)
    days, rest = divmod(abs(delta), DAY)
    # Before, a part day counts as a day (one second before is D-1); after, whole days.
    badge = (f"D+{days}" if days else "D-day") if passed else f"D-{-(-delta // DAY)}"
    hours, minutes = rest // HOUR, rest % HOUR // MINUTE
    return Countdown(label, badge, days, hours, minutes, passed, target.astimezone(UTC))


# Read to the second, so every request in one second shares one answer: the date
# arithmetic was a visible share of a page that does no work of its own
# (bench/RESULTS.md, round five).
_this_second = functools.lru_cache(maxsize=1)(countdown)


async def put_countdown_on_g() -> None:
    """A request step (see `web.pipeline`)."""
    settings = config.current()
    now = utcnow().replace(microsecond=0)
    g._get_current_object().countdown = _this_second(
        settings.countdown_date, now, settings.countdown_label
    )
