"""The signed cookies a worker has checked once are remembered (`web.cookies`): the
same value is read again without its signature checked, but never past its age, never
another value, and never as an object a request could change for the next."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from quart import Quart

from guestbook import create_app
from support import AuthActions, cookie, signed_in_as


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the clock (itsdangerous' and the memory's) `seconds` on."""
    now = time.time() + seconds
    monkeypatch.setattr(time, "time", lambda: now)


def _changed(value: str) -> str:
    """`value` with its signature's first character changed (all of its six bits count:
    a last character may carry bits that decoding drops)."""
    signed, signature = value.rsplit(".", 1)
    return f"{signed}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _asking(app: Quart, value: str) -> SimpleNamespace:
    return SimpleNamespace(cookies={app.config["SESSION_COOKIE_NAME"]: value})


async def test_a_session_read_again_is_the_same(app: Quart):
    interface = app.session_interface
    value = interface.get_signing_serializer(app).dumps({"csrf_token": "t", "n": 1})

    first = await interface.open_session(app, _asking(app, value))
    again = await interface.open_session(app, _asking(app, value))

    assert dict(first) == dict(again) == {"csrf_token": "t", "n": 1}
    again["csrf_token"] = "changed by a request"
    assert not first.modified and again.modified
    third = await interface.open_session(app, _asking(app, value))
    assert dict(third) == {"csrf_token": "t", "n": 1}  # a fresh copy each time
    assert not third.modified


async def test_a_session_read_once_still_expires(app: Quart, monkeypatch: pytest.MonkeyPatch):
    interface = app.session_interface
    value = interface.get_signing_serializer(app).dumps({"csrf_token": "t"})
    assert dict(await interface.open_session(app, _asking(app, value))) == {"csrf_token": "t"}

    _later(monkeypatch, app.permanent_session_lifetime.total_seconds() + 2)

    assert dict(await interface.open_session(app, _asking(app, value))) == {}


async def test_a_changed_session_value_is_checked_and_refused(app: Quart):
    interface = app.session_interface
    value = interface.get_signing_serializer(app).dumps({"csrf_token": "t"})
    await interface.open_session(app, _asking(app, value))

    assert dict(await interface.open_session(app, _asking(app, _changed(value)))) == {}


async def test_a_session_with_a_list_is_never_shared(app: Quart):
    """Flashes are a list a request appends to: each request reads its own."""
    interface = app.session_interface
    value = interface.get_signing_serializer(app).dumps({"_flashes": [["message", "Posted."]]})

    first = await interface.open_session(app, _asking(app, value))
    first["_flashes"].append(("message", "Saved."))
    again = await interface.open_session(app, _asking(app, value))

    assert again["_flashes"] == [["message", "Posted."]]


async def test_a_login_cookie_read_again_gives_the_same_member(
    app: Quart, auth: AuthActions, monkeypatch: pytest.MonkeyPatch
):
    await auth.signup()
    login = app.extensions["QUART_AUTH"][0]
    value = cookie(auth.client, "gb_login")

    token = login.load_token(value, app)
    assert token is not None and login.load_token(value, app) == token
    assert await signed_in_as(auth.client) == "alice"
    assert await signed_in_as(auth.client) == "alice"

    _later(monkeypatch, login.duration + 2)
    assert login.load_token(value, app) is None


async def test_a_login_cookie_is_checked_against_each_apps_key(
    app: Quart, auth: AuthActions, settings_overrides: dict
):
    """The memory is per key: a cookie signed with one key is no good with another."""
    await auth.signup()
    value = cookie(auth.client, "gb_login")
    login = app.extensions["QUART_AUTH"][0]
    assert login.load_token(value, app) is not None

    other = create_app({**settings_overrides, "secret_key": "another key " * 4})
    assert login.load_token(value, other) is None
    assert other.extensions["QUART_AUTH"][0].load_token(value, other) is None


async def test_a_changed_login_cookie_is_refused(app: Quart, auth: AuthActions):
    await auth.signup()
    value = cookie(auth.client, "gb_login")
    login = app.extensions["QUART_AUTH"][0]
    assert login.load_token(value, app) is not None

    assert login.load_token(_changed(value), app) is None
