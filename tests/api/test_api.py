"""The JSON API through the test client: tokens made on the account page, what each
token may do, the resources, problem documents, ETags and preconditions, the shared
limits, CORS, and what stays hidden."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.models import ApiToken, AuditEntry, Message
from support import (
    NEW_PASSWORD,
    PASSWORD,
    all_rows,
    assert_rows_valid,
    member,
    page_text,
    token_for,
)

API = "/api/v1"


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "page_size": 2, "api_cors_origins": "https://app.example"}


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def test_a_token_is_shown_once_listed_and_stored_as_its_hash(app: Quart) -> None:
    alice = await member(app, "alice")
    token = await token_for(alice, "read", "my laptop")
    page = await page_text(await alice.get("/account"))
    assert token not in page and "my laptop" in page and 'id="tokens"' in page
    async with db.sessionmaker(app)() as session:
        row = await session.scalar(select(ApiToken))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.scope == "read"
    assert row.last_used_at is None

    me = await app.test_client().get(f"{API}/me", headers=bearer(token))
    assert me.status_code == 200
    assert (await me.get_json())["username"] == "alice"
    async with db.sessionmaker(app)() as session:
        assert (await session.scalar(select(ApiToken))).last_used_at is not None

    revoke = await alice.post(f"/account/tokens/{row.id}/revoke", form={})
    assert revoke.status_code == 302
    after = await app.test_client().get(f"{API}/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.headers["WWW-Authenticate"] == 'Bearer realm="guestbook", error="invalid_token"'


async def test_what_each_token_may_do(app: Quart) -> None:
    alice = await member(app, "alice")
    reader, writer = await token_for(alice, "read"), await token_for(alice, "write")
    api = app.test_client()
    body = {"body": "hello"}

    none = await api.post(f"{API}/messages", json=body)
    assert (
        none.status_code == 401 and none.headers["WWW-Authenticate"] == 'Bearer realm="guestbook"'
    )
    read_only = await api.post(f"{API}/messages", json=body, headers=bearer(reader))
    assert read_only.status_code == 403
    assert 'error="insufficient_scope"' in read_only.headers["WWW-Authenticate"]
    wrong = await api.get(f"{API}/messages", headers=bearer("gbt_nothing"))
    assert wrong.status_code == 401  # a public read too: a token sent is checked
    malformed = await api.get(f"{API}/messages", headers={"Authorization": "Basic YTpi"})
    assert malformed.status_code == 400
    assert 'error="invalid_request"' in malformed.headers["WWW-Authenticate"]

    # No form token needed: the API reads no cookie, so there is nothing to forge.
    written = await api.post(f"{API}/messages", json=body, headers=bearer(writer))
    assert written.status_code == 201
    assert (await api.get(f"{API}/me", headers=bearer(writer))).status_code == 200


async def test_a_logged_in_browsers_cookies_are_no_credential(app: Quart) -> None:
    """A page from another site can make the browser send its cookies to the API; they
    count for nothing there, so there is no CSRF to defend against."""
    alice = await member(app, "alice")
    response = await alice.post(
        f"{API}/messages", json={"body": "forged"}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 401
    assert (await alice.get(f"{API}/me")).status_code == 401
    assert not (await all_rows(app))["messages"]


async def test_write_read_list_and_follow_the_cursor(app: Quart) -> None:
    alice = await member(app, "alice")
    token = await token_for(alice)
    api = app.test_client()
    ids = []
    for n in range(3):
        response = await api.post(
            f"{API}/messages", json={"body": f"  note {n} "}, headers=bearer(token)
        )
        assert response.status_code == 201
        created = await response.get_json()
        assert created["body"] == f"note {n}" and created["writer"] == "alice"
        assert response.headers["Location"] == f"{API}/messages/{created['id']}"
        again = await api.get(response.headers["Location"])
        assert again.headers["ETag"] == response.headers["ETag"]  # as committed
        ids.append(created["id"])

    first = await api.get(f"{API}/messages")
    page = await first.get_json()
    assert [m["id"] for m in page["messages"]] == ids[:0:-1]
    link = first.headers["Link"]
    assert link == f'<{API}/messages?cursor={page["next_cursor"]}>; rel="next"'
    second = await api.get(link[1 : link.index(">")])
    assert [m["id"] for m in (await second.get_json())["messages"]] == [ids[0]]
    assert "Link" not in second.headers and (await second.get_json())["next_cursor"] is None
    assert (await api.get(f"{API}/messages?cursor=forged")).status_code == 400

    on_profile = await api.get(f"{API}/users/ALICE/messages")
    assert [m["id"] for m in (await on_profile.get_json())["messages"]] == ids[:0:-1]
    profile = await (await api.get(f"{API}/users/alice")).get_json()
    assert profile["message_count"] == 3 and profile["blocked"] is False
    assert_rows_valid(await all_rows(app))


async def test_etags_304_and_if_match(app: Quart) -> None:
    alice = await member(app, "alice")
    token = await token_for(alice)
    api = app.test_client()
    created = await api.post(f"{API}/messages", json={"body": "first"}, headers=bearer(token))
    path = created.headers["Location"]
    read = await api.get(path)
    tag = read.headers["ETag"]
    assert (await api.get(path, headers={"If-None-Match": tag})).status_code == 304
    listed = await api.get(f"{API}/messages")
    assert (
        await api.get(f"{API}/messages", headers={"If-None-Match": listed.headers["ETag"]})
    ).status_code == 304

    edited = await api.patch(
        path, json={"body": "second"}, headers=bearer(token, **{"If-Match": tag})
    )
    assert edited.status_code == 200 and (await edited.get_json())["body"] == "second"
    stale = await api.patch(
        path, json={"body": "third"}, headers=bearer(token, **{"If-Match": tag})
    )
    assert stale.status_code == 412
    assert stale.mimetype == "application/problem+json"
    gone = await api.delete(path, headers=bearer(token, **{"If-Match": tag}))
    assert gone.status_code == 412
    assert (await (await api.get(path)).get_json())["body"] == "second"
    assert (await api.get(path, headers={"If-None-Match": tag})).status_code == 200
    deleted = await api.delete(path, headers=bearer(token, **{"If-Match": edited.headers["ETag"]}))
    assert deleted.status_code == 204
    assert (await api.get(path)).status_code == 404


async def test_problems_name_fields_in_the_requests_language(app: Quart) -> None:
    alice = await member(app, "alice")
    token = await token_for(alice)
    api = app.test_client()
    post = f"{API}/messages"

    missing = await api.post(post, json={}, headers=bearer(token))
    assert missing.status_code == 422 and missing.mimetype == "application/problem+json"
    problem = await missing.get_json()
    assert problem["status"] == 422 and problem["errors"][0]["field"] == "body"
    assert {"type", "title", "status", "detail"} <= set(problem)
    extra = await api.post(post, json={"body": "x", "writer_id": 1}, headers=bearer(token))
    assert [e["field"] for e in (await extra.get_json())["errors"]] == ["writer_id"]
    blank = await api.post(post, json={"body": "   "}, headers=bearer(token))
    assert blank.status_code == 422 and (await blank.get_json())["errors"][0]["field"] == "body"
    not_json = await api.post(
        post,
        data="body=x",
        headers=bearer(token, **{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert not_json.status_code == 415
    broken = await api.post(
        post, data="{", headers=bearer(token, **{"Content-Type": "application/json"})
    )
    assert broken.status_code == 400
    korean = await api.get(f"{API}/messages/999", headers={"Accept-Language": "ko"})
    assert korean.status_code == 404 and korean.headers["Content-Language"] == "ko"
    assert (await korean.get_json())["detail"] == "그런 글은 없습니다."
    no_route = await api.get(f"{API}/nothing")
    assert no_route.status_code == 404 and no_route.mimetype == "application/problem+json"
    assert not (await all_rows(app))["messages"]


async def test_posts_share_the_members_limit_with_the_form(app: Quart) -> None:
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(post_limit=2)
    alice = await member(app, "alice")
    token = await token_for(alice)
    assert (await alice.post("/messages", form={"body": "by the form"})).status_code == 302
    api = app.test_client()
    assert (
        await api.post(f"{API}/messages", json={"body": "one"}, headers=bearer(token))
    ).status_code == 201
    refused = await api.post(f"{API}/messages", json={"body": "two"}, headers=bearer(token))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Policy"] == '"post-account";q=2;w=600'
    assert refused.headers["RateLimit"].startswith('"post-account";r=0;t=')


async def test_token_making_is_limited(app: Quart) -> None:
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(token_limit=1)
    alice = await member(app, "alice")
    await token_for(alice)
    refused = await alice.post("/account/tokens", form={"name": "again", "scope": "read"})
    assert refused.status_code == 429


async def test_replies_likes_and_others_messages(app: Quart) -> None:
    alice, bob = await member(app, "alice"), await member(app, "bob")
    alices, bobs = await token_for(alice), await token_for(bob)
    api = app.test_client()
    message = await (
        await api.post(f"{API}/messages", json={"body": "hi"}, headers=bearer(alices))
    ).get_json()
    path = f"{API}/messages/{message['id']}"
    reply = await api.post(f"{path}/replies", json={"body": "hello"}, headers=bearer(bobs))
    assert reply.status_code == 201 and (await reply.get_json())["parent_id"] == message["id"]
    alone = await (await api.get(reply.headers["Location"])).get_json()
    assert alone["parent_id"] == message["id"] and alone["replies"] == []
    liked = await api.put(f"{path}/like", headers=bearer(bobs))
    assert await liked.get_json() == {"liked": True, "like_count": 1}
    assert (await api.put(f"{path}/like", headers=bearer(bobs))).status_code == 200
    thread = await (await api.get(path)).get_json()
    assert thread["like_count"] == 1 and [r["body"] for r in thread["replies"]] == ["hello"]
    assert await (await api.delete(f"{path}/like", headers=bearer(bobs))).get_json() == {
        "liked": False,
        "like_count": 0,
    }
    assert (await api.patch(path, json={"body": "mine"}, headers=bearer(bobs))).status_code == 403
    assert (await api.delete(path, headers=bearer(bobs))).status_code == 403


async def test_hidden_blocked_and_a_moderators_delete(app: Quart) -> None:
    alice = await member(app, "alice")
    mod = await member(app, "mod", moderator=True)
    alices, mods = await token_for(alice), await token_for(mod)
    api = app.test_client()
    first = await (
        await api.post(f"{API}/messages", json={"body": "one"}, headers=bearer(alices))
    ).get_json()
    second = await (
        await api.post(f"{API}/messages", json={"body": "two"}, headers=bearer(alices))
    ).get_json()

    assert (
        await mod.post(f"/messages/{first['id']}/hide", form={"reason": "spam"})
    ).status_code == 302
    assert (await api.get(f"{API}/messages/{first['id']}")).status_code == 404
    listed = await (await api.get(f"{API}/messages")).get_json()
    assert [m["id"] for m in listed["messages"]] == [second["id"]]
    own = await (await api.get(f"{API}/users/alice/messages", headers=bearer(alices))).get_json()
    assert [m["id"] for m in own["messages"]] == [second["id"]]

    removed = await api.delete(f"{API}/messages/{second['id']}", headers=bearer(mods))
    assert removed.status_code == 204
    async with db.sessionmaker(app)() as session:
        assert (
            await session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
        ).action == "delete"
        assert await session.get(Message, second["id"]) is None

    blocked = await mod.post("/users/alice/block", form={"reason": "spam"})
    assert blocked.status_code == 302
    assert (await api.get(f"{API}/me", headers=bearer(alices))).status_code == 401
    profile = await (await api.get(f"{API}/users/alice")).get_json()
    assert profile["blocked"] is True


async def test_a_password_change_revokes_every_token(app: Quart) -> None:
    alice = await member(app, "alice")
    token = await token_for(alice)
    form = {
        "current_password": PASSWORD,
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    assert (await alice.post("/account/password", form=form)).status_code == 302
    assert (await app.test_client().get(f"{API}/me", headers=bearer(token))).status_code == 401
    assert not (await all_rows(app))["api_tokens"]


@pytest.mark.parametrize("write", [False, True], ids=["reads only", "writes too"])
async def test_cors_for_listed_origins_only(app: Quart, write: bool) -> None:
    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(api_cors_write=write)
    api = app.test_client()
    listed = await api.get(f"{API}/messages", headers={"Origin": "https://app.example"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "ETag" in listed.headers["Access-Control-Expose-Headers"]
    other = await api.get(f"{API}/messages", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other.headers["Vary"]
    preflight = await api.options(
        f"{API}/messages",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert ("POST" in preflight.headers["Access-Control-Allow-Methods"]) is write
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    page = await api.get("/", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in page.headers  # pages are not the API
