"""CSRF: a token in the session, a hidden field in every POST form, checked for
every unsafe method; a failed check answers 400 and changes nothing."""

from __future__ import annotations

import re

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import create_app, db
from guestbook.models import LoginSession, Message, User
from support import GOOD, PASSWORD, AuthActions, CSRFClient, count_rows, page_text, signed_in_as

# (path, form, logged in before the post?)
POSTS = {
    "signup": ("/auth/signup", {**GOOD, "username": "carol", "email": "carol@example.com"}, False),
    "login": ("/auth/login", {"username": "alice", "password": PASSWORD}, False),
    "logout": ("/auth/logout", {}, True),
    "post message": ("/messages", {"body": "hello"}, True),
}


async def snapshot(app: Quart) -> tuple[int, int, list[str]]:
    async with db.sessionmaker(app)() as session:
        tokens = list(await session.scalars(select(LoginSession.token_hash)))
    return await count_rows(app, User), await count_rows(app, Message), sorted(tokens)


async def prepare(auth: AuthActions, logged_in: bool) -> None:
    await auth.signup()
    if not logged_in:
        await auth.logout()
    await auth.client.get("/")  # the visitor has a session (and a token) from a page


def assert_expired_page(response, html: str) -> None:
    assert response.status_code == 400
    assert "expired" in html
    assert "Reload the page and try again" in html


@pytest.mark.parametrize("token", [None, "wrong", ""])
@pytest.mark.parametrize("case", list(POSTS))
async def test_post_without_the_right_token_is_refused(
    app: Quart, auth: AuthActions, case: str, token: str | None
):
    path, form, logged_in = POSTS[case]
    await prepare(auth, logged_in)
    before = await snapshot(app)

    if token is None:
        response = await auth.client.post(path, form=form, csrf=False)
    else:
        response = await auth.client.post(path, form={**form, "csrf_token": token})
    assert_expired_page(response, await page_text(response))
    assert await snapshot(app) == before
    assert (await signed_in_as(auth.client) == "alice") is logged_in


@pytest.mark.parametrize("case", list(POSTS))
async def test_post_with_the_token_goes_through(app: Quart, auth: AuthActions, case: str):
    """The same posts as above succeed with the token: the refusals were the check's."""
    path, form, logged_in = POSTS[case]
    await prepare(auth, logged_in)
    before = await snapshot(app)
    response = await auth.client.post(path, form=form)
    assert response.status_code == 302
    assert await snapshot(app) != before


async def test_a_fresh_visitor_without_a_session_is_refused(app: Quart, client: CSRFClient):
    response = await client.post("/auth/signup", form={**GOOD, "csrf_token": "anything"})
    assert_expired_page(response, await page_text(response))
    assert await count_rows(app, User) == 0


async def test_token_from_another_session_is_refused(app: Quart, auth: AuthActions):
    await prepare(auth, logged_in=True)
    stranger: CSRFClient = app.test_client()
    response = await auth.client.post(
        "/messages", form={"body": "hello", "csrf_token": await stranger.csrf_token()}
    )
    assert response.status_code == 400
    assert await count_rows(app, Message) == 0


async def test_header_token_is_accepted(app: Quart, auth: AuthActions):
    await prepare(auth, logged_in=True)
    token = await auth.client.csrf_token()
    response = await auth.client.post(
        "/messages", form={"body": "hello"}, csrf=False, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 302
    assert await count_rows(app, Message) == 1


async def test_wrong_header_token_is_refused(app: Quart, auth: AuthActions):
    await prepare(auth, logged_in=True)
    response = await auth.client.post(
        "/messages", form={"body": "hello"}, headers={"X-CSRFToken": "wrong"}
    )
    assert response.status_code == 400
    assert await count_rows(app, Message) == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_every_unsafe_method_is_checked(client: CSRFClient, method: str):
    await client.get("/")
    response = await client.open("/messages", method=method)
    assert response.status_code == 400
    assert "expired" in await page_text(response)


@pytest.mark.parametrize(
    "path", ["/", "/auth/signup", "/auth/login", "/account/sessions", "/account/password"]
)
async def test_every_post_form_carries_the_sessions_token(app: Quart, auth: AuthActions, path: str):
    await auth.signup()
    await AuthActions(app.test_client()).login()  # a second session: revoke buttons show
    if path.startswith("/auth/"):
        await auth.logout()
    html = await page_text(await auth.client.get(path))
    token = await auth.client.csrf_token()

    forms = re.findall(r'<form method="post".*?</form>', html, flags=re.DOTALL)
    # The language switch and the popup's "Don't show again" are the forms without a
    # token: readers have no session (tests/test_attacks.py checks how they refuse
    # other sites instead).
    forms = [
        form
        for form in forms
        if 'id="language-switch"' not in form and 'action="/popup/skip"' not in form
    ]
    assert forms
    for form in forms:
        assert f'<input type="hidden" name="csrf_token" value="{token}">' in form


async def test_the_session_signer_is_made_once_per_app(app, client, auth, settings_overrides):
    """Made once, not per request; and never shared: each app signs with its own key."""
    await auth.signup()
    signer = app.session_interface.get_signing_serializer(app)
    await client.get("/")
    assert app.session_interface.get_signing_serializer(app) is signer
    other = create_app({**settings_overrides, "secret_key": "another key " * 4})
    assert other.session_interface.get_signing_serializer(other) is not signer
    assert (
        other.session_interface.get_signing_serializer(other).secret_keys[-1]
        != (signer.secret_keys[-1])
    )


async def test_with_csrf_turned_off_a_post_needs_no_token(app, settings_overrides):
    """GUESTBOOK_CSRF_ENABLED=0 (refused in production) turns the check off, and only it."""
    off = create_app({**settings_overrides, "csrf_enabled": False})
    async with off.test_app():
        response = await off.test_client().post("/auth/signup", form=GOOD)
    assert response.status_code == 302
    assert await count_rows(app, User) == 1
