"""Moderators: hiding, restoring and deleting messages, blocking members, the
/moderation page and its audit log; and who may do any of it."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from guestbook import db
from guestbook.accounts.services import reset_token
from guestbook.models import AuditEntry, LoginSession, Message, User
from guestbook.moderation.services import SHOWN
from support import (
    GET_RULES,
    PASSWORD,
    AuthActions,
    audit_log,
    bodies,
    fill,
    member,
    message_id,
    next_event,
    opened,
    page_text,
    write,
)

MODERATOR_POSTS = [
    "/messages/{id}/hide",
    "/messages/{id}/unhide",
    "/messages/{id}/remove",
    "/users/{name}/block",
    "/users/{name}/unblock",
]


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "login_limit": 1000, "signup_limit": 1000}


async def logins_of(app: Quart, name: str) -> list[LoginSession]:
    async with db.sessionmaker(app)() as session:
        return list(
            await session.scalars(select(LoginSession).join(User).where(User.username == name))
        )


@pytest.fixture
async def cast(app: Quart) -> dict[str, Any]:
    """Mod (a moderator), Alice and Bob (members), and a message of Bob's."""
    mod = await member(app, "mod", moderator=True)
    alice = await member(app, "alice")
    bob = await member(app, "bob")
    return {"mod": mod, "alice": alice, "bob": bob, "id": await write(bob, "spam from bob")}


# --- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", MODERATOR_POSTS)
async def test_moderator_routes_refuse_members_anonymous_and_forged_posts(
    app: Quart, cast: dict[str, Any], path: str
):
    path = path.format(id=cast["id"], name="bob")
    before = await audit_log(app)

    refused = await cast["alice"].post(path, form={"reason": "x"})
    assert refused.status_code == 403
    assert "Only moderators can do that." in await page_text(refused)

    anonymous = await app.test_client().post(path, form={"reason": "x"})
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith("/auth/login")

    forged = await cast["mod"].post(path, form={"reason": "x"}, csrf=False)
    assert forged.status_code == 400
    assert "did not come from this site" in await page_text(forged)

    assert await audit_log(app) == before
    async with db.sessionmaker(app)() as session:
        message = await session.get(Message, cast["id"])
        bob = await session.scalar(select(User).where(User.username == "bob"))
    assert message is not None and message.hidden_at is None and bob.blocked_at is None


async def test_the_moderation_page_is_for_moderators(app: Quart, cast: dict[str, Any]):
    assert (await cast["alice"].get("/moderation")).status_code == 403
    anonymous = await app.test_client().get("/moderation")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/auth/login?next=/moderation"
    page = await cast["mod"].get("/moderation")
    assert page.status_code == 200
    assert "spam from bob" in await page_text(page)
    # The menu links it for moderators only.
    assert 'href="/moderation"' in await page_text(await cast["mod"].get("/"))
    assert 'href="/moderation"' not in await page_text(await cast["alice"].get("/"))


async def test_moderators_see_hide_and_delete_on_every_message(app: Quart, cast: dict[str, Any]):
    await write(cast["alice"], "by alice")
    for client, expected in ((cast["mod"], 2), (cast["alice"], 0)):
        page = await page_text(await client.get("/"))
        assert len(re.findall(r'action="/messages/\d+/hide"', page)) == expected
        assert len(re.findall(r'action="/messages/\d+/remove"', page)) == expected
    # Members get a Report link on others' messages, never on their own.
    alice_page = await page_text(await cast["alice"].get("/"))
    assert f'href="/messages/{cast["id"]}/report?next=/"' in alice_page
    assert alice_page.count("/report?") == 1


# --- hiding ----------------------------------------------------------------------------


async def test_a_hidden_message_appears_nowhere_public(app: Quart, cast: dict[str, Any]):
    reader = app.test_client()
    feeds = ("/feed.atom", "/users/bob/feed.atom")
    # Seen first, so every list page and feed is in the cache when the hide comes.
    assert "spam from bob" in await page_text(await reader.get("/"))
    assert "1 message<" in await page_text(await reader.get("/users/bob"))
    for feed in feeds:
        assert "spam from bob" in await page_text(await reader.get(feed))

    response = await cast["mod"].post(
        f"/messages/{cast['id']}/hide", form={"reason": "spam", "next": "/"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"

    for client in (reader, cast["alice"], cast["mod"]):
        assert "spam from bob" not in await page_text(await client.get("/"))
        profile = await page_text(await client.get("/users/bob"))
        assert "spam from bob" not in profile
        assert "0 messages<" in profile
        for feed in feeds:
            assert "spam from bob" not in await page_text(await client.get(feed))
    async with db.sessionmaker(app)() as session:
        message = await session.get(Message, cast["id"])
        mod = await session.scalar(select(User).where(User.username == "mod"))
    assert message.hidden_at is not None and message.hidden_by == mod.id  # the row stays


async def test_live_pages_drop_a_hidden_message_and_take_it_back_unhidden(
    app: Quart, cast: dict[str, Any]
):
    # A hide is an "edited" event on /live; each open page then asks for the message's
    # fragment, and a 404 removes it from the page.
    fragment = f"/messages/{cast['id']}/fragment"
    reader = app.test_client()
    assert "spam from bob" in await page_text(await reader.get(fragment))
    await cast["mod"].post(f"/messages/{cast['id']}/hide", form={})
    for client in (reader, cast["alice"], cast["mod"], cast["bob"]):
        assert (await client.get(fragment)).status_code == 404
    await cast["mod"].post(f"/messages/{cast['id']}/unhide", form={})
    assert "spam from bob" in await page_text(await reader.get(fragment))


async def test_open_sockets_hear_of_a_hide_and_an_unhide(app: Quart, cast: dict[str, Any]):
    """A hide is a deletion to the watchers (none may learn it was moderated); shown
    again, the message is "edited", and the page puts it back in its place."""
    async with opened(app.test_client()) as socket:
        for action, heard in (("hide", "deleted"), ("unhide", "edited")):
            await cast["mod"].post(f"/messages/{cast['id']}/{action}", form={})
            event = await next_event(socket)
            assert (event["type"], event["id"]) == (heard, cast["id"])


async def test_no_page_or_feed_shows_a_hidden_message_to_anyone_but_its_writer(
    app: Quart, cast: dict[str, Any]
):
    """Every GET route of the URL map, as a visitor, a member and a moderator (whose
    moderation page lists it, marked hidden, to be decided on)."""
    await cast["mod"].post(f"/messages/{cast['id']}/hide", form={})
    async with db.sessionmaker(app)() as session:
        bob = await session.scalar(select(User).where(User.username == "bob"))
        login_id = await session.scalar(
            select(LoginSession.id).where(LoginSession.user_id == bob.id)
        )
    async with app.app_context():
        token = reset_token(bob)
    values = {
        "message_id": cast["id"],
        "username": "bob",
        "login_id": login_id,
        "token": token,
        "filename": "style.css",
    }
    for rule in GET_RULES:
        for who in (app.test_client(), cast["alice"], cast["mod"]):
            page = await page_text(await who.get(fill(rule, values)))
            if rule == "/moderation" and who is cast["mod"]:
                assert re.search(
                    r"spam from bob</p>\s*<p class=\"meta\">.*?hidden-mark", page, re.S
                )
                continue
            assert "spam from bob" not in page, rule
        if rule == "/users/<username>":  # the writer's own profile, marked
            assert "spam from bob" in await page_text(await cast["bob"].get("/users/bob"))


async def test_the_writer_sees_their_hidden_message_marked_on_their_profile(
    app: Quart, cast: dict[str, Any]
):
    await cast["mod"].post(f"/messages/{cast['id']}/hide", form={})
    own = await page_text(await cast["bob"].get("/users/bob"))
    assert bodies(own) == ["spam from bob"]
    assert "hidden: only you see it" in own
    assert "spam from bob" not in await page_text(await cast["bob"].get("/"))
    # Nobody else sees the mark or the message, even after the writer's visit.
    assert "hidden: only you see it" not in await page_text(await cast["alice"].get("/users/bob"))


async def test_the_writers_own_open_profile_keeps_their_hidden_message_marked(
    app: Quart, cast: dict[str, Any]
):
    # What the live script fetches when an event says the message changed.
    await cast["mod"].post(f"/messages/{cast['id']}/hide", form={})
    fragment = f"/messages/{cast['id']}/fragment"
    own = await cast["bob"].get(f"{fragment}?profile=bob")
    assert own.status_code == 200 and "hidden: only you see it" in await page_text(own)
    assert (await cast["bob"].get(fragment)).status_code == 404  # the main page drops it
    for other in (cast["alice"], cast["mod"], app.test_client()):
        assert (await other.get(f"{fragment}?profile=bob")).status_code == 404


async def test_unhide_restores_the_message(app: Quart, cast: dict[str, Any]):
    await cast["mod"].post(f"/messages/{cast['id']}/hide", form={})
    assert "spam from bob" not in await page_text(await app.test_client().get("/"))
    response = await cast["mod"].post(f"/messages/{cast['id']}/unhide", form={"reason": "ok"})
    assert response.status_code == 302
    assert "spam from bob" in await page_text(await app.test_client().get("/"))
    assert [(e.action, e.reason) for e in await audit_log(app)] == [("hide", ""), ("unhide", "ok")]


async def test_moderator_delete_removes_the_row_and_logs_its_text(app: Quart, cast: dict[str, Any]):
    response = await cast["mod"].post(f"/messages/{cast['id']}/remove", form={"reason": "spam"})
    assert response.status_code == 302
    async with db.sessionmaker(app)() as session:
        assert await session.get(Message, cast["id"]) is None
    [entry] = await audit_log(app)
    assert (entry.actor, entry.action, entry.reason) == ("mod", "delete", "spam")
    assert entry.target == f"message {cast['id']}: spam from bob"
    assert entry.message_id == cast["id"]


async def test_a_missing_message_or_member_is_404(app: Quart, cast: dict[str, Any]):
    for path in ("/messages/999999/hide", "/messages/999999/remove", "/users/nobody/block"):
        assert (await cast["mod"].post(path, form={})).status_code == 404
    assert await audit_log(app) == []


async def test_an_overlong_reason_is_refused_and_changes_nothing(app: Quart, cast: dict[str, Any]):
    response = await cast["mod"].post(f"/messages/{cast['id']}/hide", form={"reason": "x" * 301})
    assert response.status_code == 400
    assert "At most 300 characters" in await page_text(response)
    assert await audit_log(app) == []
    assert "spam from bob" in await page_text(await app.test_client().get("/"))


# --- blocking --------------------------------------------------------------------------


async def test_block_revokes_every_session_and_a_copied_cookie_is_dead(
    app: Quart, cast: dict[str, Any]
):
    phone = app.test_client()
    assert (await AuthActions(phone).login("bob", PASSWORD)).status_code == 302
    copied = app.test_client()  # a thief with a copy of every cookie of Bob's laptop
    for cookie in cast["bob"].cookie_jar:
        copied.cookie_jar.set_cookie(copy.copy(cookie))
    assert "Welcome, bob!" in await page_text(await copied.get("/"))

    response = await cast["mod"].post("/users/bob/block", form={"reason": "spammer"})
    assert response.status_code == 302

    async with db.sessionmaker(app)() as session:
        bob = await session.scalar(select(User).where(User.username == "bob"))
    assert bob.blocked_at is not None
    assert await logins_of(app, "bob") == []
    for client in (copied, cast["bob"], phone):
        page = await page_text(await client.get("/"))
        assert "Welcome, bob!" not in page and "Log in" in page
    posted = await copied.post("/messages", form={"body": "with a copied cookie"})
    # Refused: the form token belonged to the login that is gone.
    assert posted.status_code == 400
    assert await message_id(app, "with a copied cookie") is None


async def test_a_blocked_member_cannot_log_in_or_post(app: Quart, cast: dict[str, Any]):
    await cast["mod"].post("/users/bob/block", form={})
    response = await AuthActions(cast["bob"]).login("bob", PASSWORD)
    assert response.status_code == 403
    assert "A moderator has blocked this account" in await page_text(response)
    assert await logins_of(app, "bob") == []

    assert "Log in" in await page_text(await cast["bob"].get("/"))
    posted = await cast["bob"].post("/messages", form={"body": "let me in"})
    assert posted.status_code == 400  # the form's token belonged to the ended login
    assert await message_id(app, "let me in") is None
    # A wrong password says nothing about the block.
    wrong = await AuthActions(app.test_client()).login("bob", "not the password")
    assert wrong.status_code == 401
    assert "blocked" not in await page_text(wrong)


async def test_a_password_reset_does_not_log_a_blocked_member_in(app: Quart, cast: dict[str, Any]):
    await cast["mod"].post("/users/bob/block", form={})
    async with db.sessionmaker(app)() as session:
        bob = await session.scalar(select(User).where(User.username == "bob"))
    async with app.app_context():
        token = reset_token(bob)
    new = "a brand new password"
    response = await app.test_client().post(
        f"/auth/reset/{token}", form={"password": new, "password_confirm": new}
    )
    assert response.status_code == 403
    assert "A moderator has blocked this account" in await page_text(response)
    assert await logins_of(app, "bob") == []


async def test_a_login_that_raced_the_block_is_ended_on_its_next_request(
    app: Quart, cast: dict[str, Any]
):
    """The block deletes every login row; one made just after (a login that checked the
    password before the block committed) dies on its next request."""
    async with db.sessionmaker(app)() as session:
        await session.execute(
            update(User).where(User.username == "bob").values(blocked_at=text("CURRENT_TIMESTAMP"))
        )
        await session.commit()
    page = await page_text(await cast["bob"].get("/"))
    assert "Welcome, bob!" not in page
    assert await logins_of(app, "bob") == []


async def test_block_keeps_or_hides_their_messages_as_the_moderator_chooses(
    app: Quart, cast: dict[str, Any]
):
    await write(cast["alice"], "first by alice")
    await write(cast["alice"], "second by alice")
    await cast["mod"].post("/users/bob/block", form={})  # kept
    assert "spam from bob" in await page_text(await app.test_client().get("/"))

    # Hidden one by hand before the block: an unblock must not restore it.
    first = await message_id(app, "first by alice")
    await cast["mod"].post(f"/messages/{first}/hide", form={})
    await cast["mod"].post("/users/alice/block", form={"hide_messages": "on"})
    page = await page_text(await app.test_client().get("/"))
    assert "by alice" not in page and "spam from bob" in page

    await cast["mod"].post("/users/alice/unblock", form={"restore_messages": "on"})
    assert bodies(await page_text(await app.test_client().get("/"))) == [
        "second by alice",
        "spam from bob",
    ]
    actions = [(e.action, e.target) for e in await audit_log(app)]
    assert actions == [
        ("block", "member bob"),
        ("hide", f"message {first}: first by alice"),
        ("block+hide", "member alice"),
        ("unblock+restore", "member alice"),
    ]


async def test_unblock_without_restoring_keeps_their_messages_hidden(
    app: Quart, cast: dict[str, Any]
):
    await cast["mod"].post("/users/bob/block", form={"hide_messages": "on"})
    await cast["mod"].post("/users/bob/unblock", form={})
    assert "spam from bob" not in await page_text(await app.test_client().get("/"))
    assert (await AuthActions(app.test_client()).login("bob", PASSWORD)).status_code == 302


async def test_block_shows_on_the_cached_profile(app: Quart, cast: dict[str, Any]):
    reader = app.test_client()
    assert "blocked" not in await page_text(await reader.get("/users/bob"))
    await cast["mod"].post("/users/bob/block", form={})
    assert 'class="blocked-mark">blocked<' in await page_text(await reader.get("/users/bob"))
    await cast["mod"].post("/users/bob/unblock", form={})
    assert "blocked-mark" not in await page_text(await reader.get("/users/bob"))


async def test_a_moderator_cannot_block_themself_or_another_moderator(
    app: Quart, cast: dict[str, Any]
):
    await member(app, "mod2", moderator=True)
    for name, says in (("mod", "You cannot block yourself."), ("mod2", "Demote them first")):
        response = await cast["mod"].post(f"/users/{name}/block", form={})
        assert response.status_code == 403
        assert says in await page_text(response)
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(User).where(User.blocked_at.is_not(None))) is None
    assert await audit_log(app) == []


async def test_a_checkbox_that_is_not_one_is_refused(app: Quart, cast: dict[str, Any]):
    response = await cast["mod"].post("/users/bob/block", form={"hide_messages": "maybe"})
    assert response.status_code == 400
    async with db.sessionmaker(app)() as session:
        assert await session.scalar(select(User).where(User.blocked_at.is_not(None))) is None


# --- the page and the log --------------------------------------------------------------


async def test_the_moderation_page_lists_reports_first_then_the_rest(
    app: Quart, cast: dict[str, Any]
):
    quiet = await write(cast["alice"], "quiet message")
    await cast["alice"].post(f"/messages/{cast['id']}/report", form={"reason": "it is spam"})
    await cast["mod"].post("/users/alice/block", form={"reason": "testing"})
    page = await page_text(await cast["mod"].get("/moderation"))

    sections = [m.start() for m in re.finditer(r"<h2 ", page)]
    reported, recent, members, blocked, log = (
        page[a:b] for a, b in zip(sections, [*sections[1:], len(page)], strict=True)
    )
    assert "Reported messages" in reported and "spam from bob" in reported
    assert "alice: it is spam" in reported and "quiet message" not in reported
    assert f'id="recent-{quiet}"' in recent and f'id="recent-{cast["id"]}"' in recent
    assert all(f">{name}</a>" in members for name in ("mod", "alice", "bob"))
    assert ">alice</a>" in blocked and ">bob</a>" not in blocked
    assert "testing" in log and "Blocked" in log


async def test_the_log_says_its_actions_in_the_readers_language(app: Quart, cast: dict[str, Any]):
    for action in ("hide", "unhide", "remove"):
        await cast["mod"].post(f"/messages/{cast['id']}/{action}", form={})
    await cast["mod"].post("/users/bob/block", form={"hide_messages": "yes"})

    async def log_rows(language: str) -> list[list[str]]:
        page = await cast["mod"].get("/moderation", headers={"Accept-Language": language})
        table = (await page_text(page)).split('id="log-title"', 1)[1]
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]  # after the heading row
        return [re.findall(r"<td>(.*?)</td>", row, re.S)[1:3] for row in rows]

    assert await log_rows("en") == [
        ["mod", "Blocked, messages hidden"],
        ["mod", "Deleted"],
        ["mod", "Shown again"],
        ["mod", "Hidden"],
    ]
    korean = [action for _, action in await log_rows("ko")]
    assert korean == ["차단, 글 숨김", "삭제", "다시 보임", "숨김"]


async def test_every_action_is_in_the_audit_log(app: Quart, cast: dict[str, Any]):
    path = f"/messages/{cast['id']}"
    for action, reason in (("hide", "h"), ("unhide", "u"), ("remove", "r")):
        await cast["mod"].post(f"{path}/{action}", form={"reason": reason})
    await cast["mod"].post("/users/bob/block", form={"reason": "b"})
    await cast["mod"].post("/users/bob/unblock", form={"reason": "ub"})
    log = await audit_log(app)
    assert [(e.actor, e.action, e.reason) for e in log] == [
        ("mod", "hide", "h"),
        ("mod", "unhide", "u"),
        ("mod", "delete", "r"),
        ("mod", "block", "b"),
        ("mod", "unblock", "ub"),
    ]
    async with db.sessionmaker(app)() as session:
        mod = await session.scalar(select(User).where(User.username == "mod"))
    assert {e.actor_id for e in log} == {mod.id}
    assert all(e.created_at is not None for e in log)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET reason = 'rewritten'",
        "DELETE FROM audit_log",
        pytest.param("TRUNCATE audit_log", marks=pytest.mark.postgres_only),
    ],
)
async def test_the_audit_log_refuses_edits_in_the_database_itself(
    app: Quart, cast: dict[str, Any], statement: str
):
    await cast["mod"].post(f"/messages/{cast['id']}/hide", form={"reason": "spam"})
    async with db.engine(app).connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            await conn.execute(text(statement))
        await conn.rollback()
    assert [(e.action, e.reason) for e in await audit_log(app)] == [("hide", "spam")]


async def test_the_log_outlives_the_member_it_names(app: Quart, cast: dict[str, Any]):
    await cast["mod"].post("/users/bob/block", form={"reason": "spam"})
    async with db.sessionmaker(app)() as session:
        bob = await session.scalar(select(User).where(User.username == "bob"))
        await session.delete(bob)
        await session.commit()
    [entry] = await audit_log(app)
    assert entry.target == "member bob" and entry.user_id is not None
    assert "member bob" in await page_text(await cast["mod"].get("/moderation"))


@pytest.mark.parametrize("entries", [SHOWN, SHOWN + 1])
async def test_the_audit_log_pages_back_to_its_first_entry(
    app: Quart, cast: dict[str, Any], entries: int
):
    async with db.sessionmaker(app)() as session:
        session.add_all(
            AuditEntry(actor="mod", action="hide", target=f"entry {n}", reason="")
            for n in range(entries)
        )
        await session.commit()
    first = await page_text(await cast["mod"].get("/moderation"))
    shown = re.findall(r"<td>entry (\d+)</td>", first)
    assert shown == [str(n) for n in range(entries - 1, entries - 1 - SHOWN, -1)]
    older = re.search(r'href="(/moderation\?before=\d+)#log-title">Older entries', first)
    if entries == SHOWN:  # exactly one full page: no link to an empty one
        assert older is None
        return
    second = await page_text(await cast["mod"].get(older.group(1)))
    assert re.findall(r"<td>entry (\d+)</td>", second) == ["0"]
    assert "Older entries" not in second and "Newest entries" in second


@pytest.mark.parametrize("before", ["x", "-1", "1.5", "²", str(2**31), "9" * 40])
async def test_a_broken_audit_log_link_is_400(app: Quart, cast: dict[str, Any], before: str):
    response = await cast["mod"].get("/moderation", query_string={"before": before})
    assert response.status_code == 400
