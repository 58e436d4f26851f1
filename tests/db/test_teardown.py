"""`teardown_request` closes the request's `g.db`, after a failure and after success."""

from __future__ import annotations

from collections import Counter

import pytest
from quart import Quart, g
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.exceptions import Conflict

from guestbook import db
from guestbook.models import User
from support import page_text


class Spy:
    """The request sessions a test route saw, and what the engine and pool did."""

    def __init__(self, app: Quart) -> None:
        self.engine = db.engine(app).sync_engine
        self.sessions: list[AsyncSession] = []
        self.events: Counter[str] = Counter()
        for name in ("commit", "rollback"):
            event.listen(self.engine, name, self._recorder(name))
        event.listen(self.engine.pool, "checkin", self._recorder("checkin"))

    def _recorder(self, name: str):
        def record(*_args: object) -> None:
            self.events[name] += 1

        return record

    def seen(self, session: AsyncSession | None) -> None:
        """Called in the request: remember the request's session, if it made one. (A
        page may already have ended its transaction with `db.release()`; the
        session still holds what it loaded until teardown closes it.)"""
        if session is not None and session not in self.sessions:
            self.sessions.append(session)

    def assert_closed(self) -> None:
        assert self.sessions, "the request never used g.db"
        for session in self.sessions:
            assert not session.in_transaction()
            assert len(session.identity_map) == 0  # closed sessions hold no objects
        assert self.engine.pool.checkedout() == 0  # the connection went back to the pool


def half_written(name: str) -> User:
    return User(username=name, email=f"{name}@example.com", password_hash="-")


@pytest.fixture
def spy(app: Quart) -> Spy:
    """Test-only routes on the test app that write through g.db, then fail."""
    spy = Spy(app)

    @app.get("/_test/crash")
    async def crash():
        g.db.add(half_written("crash"))
        await g.db.flush()  # the row is in the database's open transaction
        spy.seen(g.db)
        raise RuntimeError("the view broke half way")

    @app.get("/_test/conflict")
    async def conflict():
        g.db.add(half_written("conflict"))
        await g.db.flush()
        spy.seen(g.db)
        raise Conflict("refused after writing")

    @app.after_request
    async def keep_session(response):
        spy.seen(g.__dict__.get("_db"))  # g.db itself would make a session
        return response

    return spy


async def user_count(app: Quart) -> int:
    async with db.sessionmaker(app)() as session:
        return await session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize(("path", "status"), [("/_test/crash", 500), ("/_test/conflict", 409)])
async def test_a_failing_view_leaves_nothing_half_written(app, client, spy, path, status):
    response = await client.get(path)
    assert response.status_code == status
    assert "the view broke" not in await page_text(response)  # no traceback
    spy.assert_closed()
    assert spy.events["rollback"] >= 1
    assert spy.events["commit"] == 0
    assert spy.events["checkin"] >= 1
    assert await user_count(app) == 0
    # The one SQLite connection is free again: the next request is served at once.
    assert (await client.get("/")).status_code == 200


async def test_g_db_is_closed_after_a_normal_request(app, client, auth, spy) -> None:
    await auth.signup("alice")
    await client.post("/messages", form={"body": "hello"})
    spy.sessions.clear()
    spy.events.clear()
    response = await client.get("/users/alice")  # logged in: g.user and the profile use g.db
    assert response.status_code == 200
    spy.assert_closed()
    assert spy.events["checkin"] >= 1
    assert await user_count(app) == 1
