"""A member downloads their own data from the account page: one JSON file with their
profile, messages and replies, likes, reports and login sessions; nobody else's, and
no hash of a password or a login token."""

from __future__ import annotations

import json

from quart import Quart

from support import PASSWORD, AuthActions, member, write


async def test_a_member_downloads_everything_kept_about_them(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    second_browser = app.test_client()
    assert (await AuthActions(second_browser).login("alice")).status_code == 302
    hers = await write(alice, "alice writes")
    his = await write(bob, "bob writes")
    assert (
        await alice.post(f"/messages/{his}/replies", form={"body": "a reply"})
    ).status_code == 302
    assert (await alice.post(f"/messages/{his}/like", form={})).status_code == 302
    assert (await bob.post(f"/messages/{hers}/like", form={})).status_code == 302
    reported = await alice.post(f"/messages/{his}/report", form={"reason": "rude"})
    assert reported.status_code == 302

    settings = await alice.get("/account")
    assert 'href="/account/export"' in (await settings.get_data(as_text=True))
    response = await alice.get("/account/export")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="guestbook-alice.json"'
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.get_data(as_text=True)
    data = json.loads(text)

    assert data["profile"]["username"] == "alice"
    assert data["profile"]["email"] == "alice@example.com"
    assert [(m["body"], m["parent_id"]) for m in data["messages"]] == [
        ("alice writes", None),
        ("a reply", his),
    ]
    assert [like["message_id"] for like in data["likes"]] == [his]  # not bob's like of hers
    assert [(r["message_id"], r["reason"]) for r in data["reports"]] == [(his, "rude")]
    assert len(data["login_sessions"]) == 2  # signed up here, logged in in another browser
    assert "bob writes" not in text
    for secret in ("password_hash", "token_hash", "argon2", PASSWORD):
        assert secret not in text


async def test_only_a_member_has_data_to_download(client) -> None:  # noqa: ANN001
    response = await client.get("/account/export")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
