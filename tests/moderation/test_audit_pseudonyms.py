"""The audit log outlives a member who deletes their account: every entry that named
them stays, their id dropped and their name replaced by one pseudonym of their own; and
the database still refuses every other change to the log."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from guestbook import db, i18n
from guestbook.accounts import services as accounts
from guestbook.models import MODERATOR, AuditEntry, User
from guestbook.moderation import audit
from guestbook.moderation import services as moderation
from support import PASSWORD, AuthActions, audit_log, member, page_text, write

PSEUDONYM = re.compile(r"\(deleted [0-9a-f]{12}\)")


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**settings_overrides, "login_limit": 1000, "signup_limit": 1000}


async def entries(app: Quart) -> list[tuple[Any, ...]]:
    """Every column of every entry, in order."""
    columns = AuditEntry.__table__.columns.keys()
    return [tuple(getattr(e, column) for column in columns) for e in await audit_log(app)]


async def make_moderator(app: Quart, name: str) -> None:
    async with db.sessionmaker(app)() as session:
        await session.execute(update(User).where(User.username == name).values(role=MODERATOR))
        await session.commit()


@pytest.fixture
async def history(app: Quart) -> dict[str, Any]:
    """Mod blocked and unblocked Alice and hid a message of hers; Alice, a moderator
    since, hid one of Bob's. Four entries name her, as actor or as whom they are about."""
    mod = await member(app, "mod", moderator=True)
    alice, bob = await member(app, "alice"), await member(app, "bob")
    hers = await write(alice, "a rude remark")
    bobs = await write(bob, "spam from bob")
    await mod.post("/users/alice/block", form={"reason": "calm down"})
    await mod.post("/users/alice/unblock", form={})
    await mod.post(f"/messages/{hers}/hide", form={"reason": "rude"})
    await make_moderator(app, "alice")
    assert (await AuthActions(alice).login("alice")).status_code == 302  # the block ended it
    await alice.post(f"/messages/{bobs}/hide", form={"reason": "spam"})
    return {"mod": mod, "alice": alice, "bob": bob, "hers": hers, "bobs": bobs}


async def test_each_entry_stays_with_one_pseudonym_in_place_of_her_name(
    app: Quart, history: dict[str, Any]
) -> None:
    before = await audit_log(app)
    assert len(before) == 4
    ids = {entry.actor: entry.actor_id for entry in before}

    response = await history["alice"].post("/account/delete", form={"password": PASSWORD})
    assert response.status_code == 302

    after = await audit_log(app)
    assert [e.id for e in after] == [e.id for e in before]  # every entry kept, in its place
    block, unblock, hide_hers, hide_his = after
    pseudonym = hide_his.actor
    assert PSEUDONYM.fullmatch(pseudonym), pseudonym
    assert hide_his.actor_id is None and hide_his.user_id is not None  # about bob, still
    assert block.target == unblock.target == f"member {pseudonym}"  # one pseudonym for her
    assert (block.actor, block.actor_id) == ("mod", ids["mod"])  # the moderator's, as it was
    assert block.user_id is None and unblock.user_id is None and hide_hers.user_id is None
    assert hide_hers.target.endswith(": a rude remark")  # the decision's subject, as it was
    assert [(e.action, e.reason, e.created_at, e.message_id) for e in after] == [
        (e.action, e.reason, e.created_at, e.message_id) for e in before
    ]
    assert not any("alice" in f"{e.actor} {e.target}" for e in after)
    await history["mod"].get("/")  # the flashes of the mod's actions, shown and gone
    page = await page_text(await history["mod"].get("/moderation"))
    assert f"(deleted {pseudonym[9:-1]})" in page and "alice" not in page
    async with app.app_context():
        with i18n.using("ko"):
            assert audit.shown(hide_his)[0] == f"(탈퇴 {pseudonym[9:-1]})"


async def test_an_account_deleted_for_its_member_is_an_entry_under_their_pseudonym(
    app: Quart, history: dict[str, Any]
) -> None:
    """`guestbook delete-user`'s service: the member's own deletion, and one more entry."""
    async with app.test_request_context("/"):
        alice = await accounts.by_username("alice")
        assert alice is not None
        await moderation.delete_account(alice)
    block, *_, deleted = await audit_log(app)
    assert (deleted.actor, deleted.action) == (audit.COMMAND_LINE, audit.DELETE_ACCOUNT)
    assert deleted.target == block.target and PSEUDONYM.search(deleted.target)
    assert deleted.user_id is None
    assert (await history["bob"].get(f"/messages/{history['hers']}")).status_code == 404
    await history["mod"].get("/")  # the flashes of the mod's actions, shown and gone
    page = await page_text(await history["mod"].get("/moderation"))
    assert "Account deleted" in page and "alice" not in page
    async with app.app_context():
        with i18n.using("ko"):
            assert audit.shown(deleted)[1] == "계정 삭제"


async def test_another_deleted_member_gets_a_pseudonym_of_their_own(
    app: Quart, history: dict[str, Any]
) -> None:
    for name in ("alice", "bob"):
        response = await history[name].post("/account/delete", form={"password": PASSWORD})
        assert response.status_code == 302
    hers = (await audit_log(app))[3].actor
    his = [e.target for e in await audit_log(app) if e.message_id == history["bobs"]]
    assert his == [f"message {history['bobs']}: spam from bob"]  # a message's entry: its text
    names = {e.actor for e in await audit_log(app)} | {
        e.target.removeprefix("member ") for e in await audit_log(app) if e.message_id is None
    }
    assert names == {"mod", hers}  # bob was never the actor nor a member's entry's subject


GONE = "(deleted 0123456789ab)"


@pytest.mark.parametrize(
    ("statement", "allowed"),
    [
        ("UPDATE audit_log SET reason = 'rewritten'", False),
        ("DELETE FROM audit_log", False),
        pytest.param("TRUNCATE audit_log", False, marks=pytest.mark.postgres_only),
        # A living member's entries keep their name.
        ("UPDATE audit_log SET actor_id = NULL, actor = :gone WHERE actor = 'mod'", False),
        # An entry pseudonymized once never changes again.
        ("UPDATE audit_log SET actor = :gone WHERE actor_id IS NULL", False),
        # A gone member's entry: the name must go with the id, as a pseudonym...
        ("UPDATE audit_log SET user_id = NULL WHERE target = 'member carol'", False),
        (
            "UPDATE audit_log SET user_id = NULL, target = 'member (deleted carol)' "
            "WHERE target = 'member carol'",
            False,
        ),
        # ...and nothing else may change with it.
        (
            "UPDATE audit_log SET user_id = NULL, target = 'member ' || :gone, reason = '' "
            "WHERE target = 'member carol'",
            False,
        ),
        (
            "UPDATE audit_log SET user_id = NULL, target = 'member ' || :gone "
            "WHERE target = 'member carol'",
            True,
        ),
    ],
)
async def test_the_database_still_refuses_every_other_change(
    app: Quart, history: dict[str, Any], statement: str, allowed: bool
) -> None:
    await history["alice"].post("/account/delete", form={"password": PASSWORD})
    await member(app, "carol")  # blocked, then deleted by hand, as psql would
    await history["mod"].post("/users/carol/block", form={"reason": "by hand next"})
    async with db.engine(app).begin() as conn:
        await conn.execute(text("DELETE FROM users WHERE username = 'carol'"))
    before = await entries(app)

    async with db.engine(app).connect() as conn:
        if allowed:
            changed = await conn.execute(text(statement), {"gone": GONE})
            assert changed.rowcount == 1
        else:
            with pytest.raises(DBAPIError, match="append-only"):
                await conn.execute(text(statement), {"gone": GONE})
        await conn.rollback()
    assert await entries(app) == before


async def test_nothing_but_a_deletion_pseudonymizes(app: Quart, history: dict[str, Any]) -> None:
    """The app's own function, on a member who still exists: the database refuses."""
    async with db.sessionmaker(app)() as session:
        alice = await session.scalar(text("SELECT id FROM users WHERE username = 'alice'"))
        with pytest.raises(DBAPIError, match="append-only"):
            await audit.pseudonymize(session, User(id=alice, username="alice"))
        await session.rollback()
    assert {e.actor for e in await audit_log(app)} == {"mod", "alice"}
    assert not any(e.actor_id is None for e in await audit_log(app))


def test_a_pseudonym_is_no_ones_name() -> None:
    assert AuditEntry.__table__.c.actor.type.length >= len(GONE)
    assert not re.fullmatch(r"[\w.-]+", GONE)  # a name holds no space and no bracket
