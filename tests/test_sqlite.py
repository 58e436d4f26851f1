"""The SQLite connection (`guestbook.sqlite`): one trip to aiosqlite's thread per
statement, and the same answers and transactions as plain aiosqlite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from guestbook import sqlite
from guestbook.config import Settings
from guestbook.db import make_engine

pytestmark = pytest.mark.sqlite_only  # its own SQLite file, whatever the test database


@pytest.fixture
async def engine(tmp_path) -> AsyncIterator[AsyncEngine]:
    settings = Settings(env="testing", database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db")
    engine = make_engine(settings.checked())
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch) -> list[str]:
    """The names of the functions sent to the connection's thread."""
    sent: list[str] = []
    original = sqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite.Connection, "_execute", counted)
    return sent


async def test_the_engine_uses_the_connection(engine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite.Connection)


async def test_a_read_is_one_trip_and_ends_without_another(engine, trips) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the pool's first check-out, not counted
        trips.clear()
        rows = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).all()
        await conn.rollback()  # nothing to roll back: no trip
    assert [row.n for row in rows] == [1, 2, 3]
    assert trips == ["_execute_and_fetch"]


async def test_fetching_in_parts_reads_the_rows_in_order(engine) -> None:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT n FROM t ORDER BY n"))
        assert result.fetchone() == (1,)
        assert result.fetchmany(5) == [(2,), (3,)]
        assert result.fetchall() == []


async def test_a_rollback_undoes_and_a_commit_keeps(engine, trips) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES (4)"))
        await conn.rollback()
        assert "rollback" in trips
        await conn.execute(text("INSERT INTO t VALUES (5)"))
        await conn.commit()
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
    assert kept == [1, 2, 3, 5]


async def test_many_rows_and_a_write_many(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(10, 510)])
    async with engine.connect() as conn:
        assert len((await conn.execute(text("SELECT n FROM t"))).all()) == 503


async def test_errors_come_back_as_sqlalchemy_errors(engine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(OperationalError, match="no such table"):
            await conn.execute(text("SELECT * FROM missing"))
        # The connection is still usable afterwards.
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 3
