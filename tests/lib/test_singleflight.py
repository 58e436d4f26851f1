"""One question for the requests asking at once (`SharedQuestion`): never an answer
older than the asker, one trip for a crowd, errors and cancellations kept apart."""

from __future__ import annotations

import asyncio

import pytest

from guestbook.lib.singleflight import SharedQuestion
from support import Statements, bodies, seen_by


class Database:
    """Answers with a number that grows with every write; each question takes a while."""

    def __init__(self) -> None:
        self.version = 0
        self.asked = 0
        self.fail = False
        self.answering = asyncio.Event()

    async def ask(self) -> int:
        self.asked += 1
        seen = self.version  # the snapshot is taken when the question is sent
        self.answering.set()
        await asyncio.sleep(0.01)
        self.answering.clear()
        if self.fail:
            raise RuntimeError("database down")
        return seen


async def test_a_crowd_asking_at_once_costs_one_trip() -> None:
    database = Database()
    question = SharedQuestion(database.ask)
    answers = await asyncio.gather(*(question.answer() for _ in range(50)))
    assert answers == [0] * 50
    assert database.asked == 1


async def test_who_arrives_while_a_question_is_out_waits_for_the_next() -> None:
    database = Database()
    question = SharedQuestion(database.ask)
    early = asyncio.create_task(question.answer())
    await database.answering.wait()  # the first question is out, at version 0
    database.version = 1  # a write commits, then a request arrives
    late = [asyncio.create_task(question.answer()) for _ in range(5)]
    assert await early == 0
    assert await asyncio.gather(*late) == [1] * 5  # never the older answer
    assert database.asked == 2


async def test_an_error_reaches_everyone_of_its_round_only() -> None:
    database = Database()
    question = SharedQuestion(database.ask)
    database.fail = True
    results = await asyncio.gather(*(question.answer() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    database.fail = False
    assert await question.answer() == 0


async def test_one_asker_going_away_cancels_nobody_else() -> None:
    database = Database()
    question = SharedQuestion(database.ask)
    gone = asyncio.create_task(question.answer())
    stays = asyncio.create_task(question.answer())
    await database.answering.wait()
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await stays == 0


async def test_pages_in_a_burst_share_the_version_question(app, client, auth, monkeypatch) -> None:
    """Through the app: a burst of readers asks the database far fewer times than it
    has requests, and a post before the next burst is seen by all of it."""
    await auth.signup("alice")
    await client.post("/messages", form={"body": "first"})
    statements = Statements(app, monkeypatch)
    pages = await asyncio.gather(*(seen_by(app.test_client()) for _ in range(20)))
    assert all(bodies(page) == ["first"] for page in pages)
    assert 1 <= statements.seen.count("SELECT content_version.version,") < 20
    await client.post("/messages", form={"body": "second"})
    pages = await asyncio.gather(*(seen_by(app.test_client()) for _ in range(20)))
    assert all(bodies(page) == ["second", "first"] for page in pages)
