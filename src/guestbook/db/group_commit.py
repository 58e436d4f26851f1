"""Rows that concurrent requests write, inserted together with one commit.

A commit is the slow part of a small write: a trip to the database and a sync to disk
(SQLite's one connection does one at a time; PostgreSQL waits for its WAL flush). So
requests that write while a commit is under way wait for the next one, which takes
all of them: one transaction, one statement for all rows, one commit. Each request
answers only once the commit that holds its row is done, so no one is told "posted"
for a row that could still be lost. If the shared statement fails, nothing was
written (`was_not_written` tells the caller so). When a row broke a constraint (its
writer deleted meanwhile, say) each row is tried again alone, so only the refused one
fails; when the database did not answer in time (a lock held past the statement
timeout, a lost connection) every request gets that error at once, rather than each
waiting out the timeout again in turn. If the commit itself fails, its outcome is
unknown: no row is retried (it could be written twice), and each request gets the
error (a 503 for a lost connection).

Each request learns its own row's id: the statement returns every row's id with the
columns that tell the rows of one batch apart (`key`), and each request takes the id of
the row that matches its own (the order of RETURNING's rows is not promised).

A request cancelled while it waits (its client went away) may still have its row
written, as when a reply to a commit is lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart
from sqlalchemy import Insert, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from guestbook import db
from guestbook.lib.singleflight import shared_future
from guestbook.metrics import GROUP_COMMIT_ROWS

Pending = tuple[dict[str, Any], "asyncio.Future[int]"]


class GroupCommit:
    @classmethod
    def inserting(cls, app: Quart, table: type, key: tuple[str, ...]) -> GroupCommit:
        """Inserts into `table` (a mapped class with an `id`), on `app`'s engine; `key`
        names the columns whose values tell two rows of a batch apart."""
        columns = table.__table__.c
        statement = insert(table).returning(columns.id, *(columns[name] for name in key))
        return cls(db.engine(app), statement, key)

    def __init__(self, engine: AsyncEngine, statement: Insert, key: tuple[str, ...]) -> None:
        self._engine = engine
        self._statement = statement
        self._key = key
        self._queue: list[Pending] = []
        self._task: asyncio.Task[None] | None = None

    async def insert(self, row: dict[str, Any]) -> int:
        """Returns `row`'s id once it is committed; raises what writing it alone would."""
        future: asyncio.Future[int] = shared_future()
        self._queue.append((row, future))
        if self._task is None:
            self._task = asyncio.create_task(self._writing())
        return await asyncio.shield(future)

    async def _writing(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                GROUP_COMMIT_ROWS.observe(len(batch))
                await self._write(batch)
        finally:
            self._task = None
            for _row, future in self._queue:  # stopped (cancelled) with rows waiting
                future.cancel()
            self._queue = []

    async def _write(self, batch: list[Pending]) -> None:
        try:
            ids = await self._commit([row for row, _future in batch])
        except _Refused as refused:
            if len(batch) == 1 or not isinstance(refused.__cause__, IntegrityError):
                for _row, future in batch:
                    future.set_exception(refused.not_written())
                return
            for row, future in batch:  # nothing was written: each alone, so only a
                try:  # refused row fails
                    (found,) = (await self._commit([row])).values()
                except _Refused as alone:
                    future.set_exception(alone.not_written())
                except Exception as err:
                    future.set_exception(err)
                else:
                    future.set_result(found.pop())
            return
        except Exception as err:
            # The commit itself failed: whether it took effect is unknown, so no row is
            # written again (that could write it twice); each request gets the error.
            for _row, future in batch:
                future.set_exception(err)
            return
        except BaseException:
            for _row, future in batch:
                future.cancel()
            raise
        for row, future in batch:
            future.set_result(ids[self._key_of(row)].pop())

    def _key_of(self, row: Any) -> tuple:
        return tuple(row[name] for name in self._key)

    async def _commit(self, rows: list[dict[str, Any]]) -> dict[tuple, list[int]]:
        """Write `rows`; the ids written, by each row's key (two rows alike in every
        column of the key are one as much as the other: either id fits either)."""
        async with self._engine.connect() as conn:
            try:
                written = (await conn.execute(self._statement, rows)).mappings().all()
            except Exception as err:
                raise _Refused() from err  # rolled back as the connection goes back
            await conn.commit()
        ids: dict[tuple, list[int]] = {}
        for found in written:
            ids.setdefault(self._key_of(found), []).append(found["id"])
        return ids


class _Refused(Exception):
    """The statement failed, before any commit: nothing of it was written."""

    def not_written(self) -> BaseException:
        """The statement's own error, marked as not written (see `was_not_written`)."""
        error = self.__cause__ or self
        error.guestbook_not_written = True  # type: ignore[attr-defined]
        return error


def was_not_written(error: BaseException) -> bool:
    """Whether `insert` raised `error` for a statement that failed before any commit, so
    its row was certainly not written (a failed commit's outcome is unknown)."""
    return getattr(error, "guestbook_not_written", False)
