"""The lecture's `g` exercise: time left to a date, computed once per request.

`countdown()` is a pure function (easy to test at its edges); the hook puts its
answer on `g.countdown`, where `base.html` reads it for every page's header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from quart import Quart, current_app, g

from .models import utcnow

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Countdown:
    label: str
    days: int  # before: days left, counting a part day as a day; after: whole days since
    hours: int  # the hours and minutes beyond whole days, before or after
    minutes: int
    passed: bool

    @property
    def badge(self) -> str:
        """ "D-12" before the day, "D-day" for the 24 hours from the target, "D+3" after."""
        if not self.passed:
            return f"D-{self.days}"
        return f"D+{self.days}" if self.days else "D-day"


def countdown(target: datetime, now: datetime, label: str = "") -> Countdown:
    """Time from aware `now` to aware `target`: one second before is "D-1", the
    moment itself "D-day", a day later "D+1"."""
    if target.tzinfo is None or now.tzinfo is None:
        raise ValueError("countdown needs aware datetimes")
    delta = target - now
    passed = delta <= timedelta(0)
    span = -delta if passed else delta
    days = span // DAY if passed else -(-span // DAY)  # after: floor; before: ceiling
    rest = span % DAY
    return Countdown(
        label=label,
        days=days,
        hours=rest // timedelta(hours=1),
        minutes=rest % timedelta(hours=1) // timedelta(minutes=1),
        passed=passed,
    )


def init_app(app: Quart) -> None:
    @app.before_request
    async def put_countdown_on_g() -> None:
        settings = current_app.config["SETTINGS"]
        g.countdown = countdown(settings.countdown_date, utcnow(), settings.countdown_label)
