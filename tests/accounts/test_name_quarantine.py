"""A deleted account's name is held back for GUESTBOOK_NAME_QUARANTINE_DAYS: the same
name, its case and width variants and its look-alikes are refused at signup and by
`guestbook create-user` until the very second the window ends; the email is free at
once; 0 days frees the name at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart

from guestbook.accounts import quarantine
from guestbook.cli import CommandError, _create_user
from guestbook.models import ReleasedName
from guestbook.web.filters import readable
from support import PASSWORD, AuthActions, count_rows, field_error, member, page_text

RELEASED = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
DAYS = 30


@pytest.fixture
def settings_overrides(
    settings_overrides: dict[str, Any], request: pytest.FixtureRequest
) -> dict[str, Any]:
    """The suite's, and what a test names with `indirect=True`."""
    return {**settings_overrides, **getattr(request, "param", {})}


class Clock:
    """What `quarantine` takes for now: set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock(RELEASED)
    monkeypatch.setattr(quarantine, "utcnow", frozen)
    return frozen


async def alice_deleted(app: Quart) -> None:
    alice = await member(app, "alice")
    assert (await alice.post("/account/delete", form={"password": PASSWORD})).status_code == 302


async def sign_up(app: Quart, name: str, email: str | None = None):
    return await AuthActions(app.test_client()).signup(name, email=email)


@pytest.mark.parametrize(
    ("name", "alike"),
    [
        ("alice", False),
        ("ALICE", False),  # a case variant: the same canonical key
        ("\uff41\uff4c\uff49\uff43\uff45", False),  # fullwidth: the same key too
        ("a1ice", True),  # a look-alike: the same skeleton
    ],
)
async def test_the_name_and_names_like_it_are_held_until_the_window_ends(
    app: Quart, clock: Clock, name: str, alike: bool
) -> None:
    await alice_deleted(app)
    free_at = RELEASED + timedelta(days=DAYS)

    clock.now = free_at - timedelta(seconds=1)
    refused = await sign_up(app, name, email="newcomer@example.com")
    assert refused.status_code == 400
    said = field_error(await page_text(refused), "username")
    start = "This name looks too much like" if alike else "This name was used by an account"
    assert said is not None and said.startswith(start), said
    assert f"It is free again on {readable(free_at)}." in said

    clock.now = free_at  # exactly N days after: free
    assert (await sign_up(app, name, email="newcomer@example.com")).status_code == 302


async def test_the_email_is_free_at_once(app: Quart, clock: Clock) -> None:
    await alice_deleted(app)
    assert (await sign_up(app, "alicia", email="alice@example.com")).status_code == 302


async def test_other_names_are_not_held(app: Quart, clock: Clock) -> None:
    await alice_deleted(app)
    assert (await sign_up(app, "alicex")).status_code == 302


@pytest.mark.parametrize("settings_overrides", [{"name_quarantine_days": 0}], indirect=True)
async def test_zero_days_frees_the_name_at_once_and_keeps_nothing(app: Quart) -> None:
    await alice_deleted(app)
    assert await count_rows(app, ReleasedName) == 0
    assert (await sign_up(app, "alice")).status_code == 302


async def test_a_longer_setting_holds_names_released_before_it(app: Quart, clock: Clock) -> None:
    """The window is the setting's, counted from each name's release."""
    await alice_deleted(app)
    clock.now = RELEASED + timedelta(days=DAYS)
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(name_quarantine_days=DAYS + 1)
    assert (await sign_up(app, "alice")).status_code == 400


async def test_the_command_line_refuses_it_too(app: Quart, clock: Clock) -> None:
    await alice_deleted(app)
    clock.now = RELEASED + timedelta(days=1)
    with pytest.raises(CommandError, match="was used by an account deleted recently"):
        await _create_user(app.config["SETTINGS"], "Alice", "other@example.com", PASSWORD)


async def test_names_whose_time_is_up_are_not_kept(app: Quart, clock: Clock) -> None:
    await alice_deleted(app)
    assert await count_rows(app, ReleasedName) == 1
    clock.now = RELEASED + timedelta(days=DAYS)
    bob = await member(app, "bob")
    assert (await bob.post("/account/delete", form={"password": PASSWORD})).status_code == 302
    assert await count_rows(app, ReleasedName) == 1  # bob's; alice's went as his came
