"""A socket at its edges: a client frame of exactly 4 KiB is read and the socket goes on
delivering (one byte more closes it with 1009), what a socket holds is bounded, events
that wait together leave as one frame, at most BATCH of them, and writes close together
wait for each other (`fanout.DELIVER_GAP`) while a lone one goes out at once."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from guestbook import db
from guestbook.live import fanout
from guestbook.live.subscriber import BATCH, MAX_FRAME_BYTES, TRY_AGAIN, Subscriber
from guestbook.models import Message, User
from support import member, newest_seq, next_event, opened, write


async def test_a_frame_of_exactly_4_kib_leaves_the_socket_delivering(app: Quart) -> None:
    writer = await member(app, "writer")
    async with opened(app.test_client()) as socket:
        await socket.send("x" * MAX_FRAME_BYTES)
        message_id = await write(writer, "after a full frame")
        event = await next_event(socket)
        assert (event["type"], event["id"]) == ("created", message_id)


def test_events_that_arrive_while_a_socket_catches_up_are_bounded() -> None:
    """A socket still catching up holds nothing pushed meanwhile (the hub keeps what it
    read in `recent`, where `start` finds it); once started, its queue is bounded."""
    subscriber = Subscriber(limit=4, address="192.0.2.1")
    for seq in range(1, 100):
        subscriber.push(seq, f"frame {seq}")
    assert subscriber.close_code is None and len(subscriber.frames) == 0
    subscriber.start(0, [(seq, f"frame {seq}") for seq in range(1, 5)])  # exactly the limit
    assert subscriber.close_code is None and len(subscriber.frames) == 4
    subscriber.push(5, "frame 5")  # one more than it can queue: too slow, closed
    assert subscriber.close_code == TRY_AGAIN
    assert len(subscriber.frames) == 0


async def test_events_that_wait_together_leave_as_one_frame_of_at_most_batch() -> None:
    subscriber = Subscriber(limit=BATCH * 2, address="192.0.2.1")
    subscriber.start(0, [(1, '{"seq":1}')])
    assert await subscriber.next_frame() == '{"seq":1}'  # alone: as it is, not a list
    subscriber.start(1, [(seq, f'{{"seq":{seq}}}') for seq in range(2, BATCH + 3)])
    first, second = await subscriber.next_frame(), await subscriber.next_frame()
    assert [event["seq"] for event in json.loads(first)] == list(range(2, BATCH + 2))
    assert json.loads(second) == {"seq": BATCH + 2}  # the one over BATCH, next
    assert not subscriber.frames


async def test_a_socket_that_resumes_gets_what_it_missed_in_one_frame(app: Quart) -> None:
    writer = await member(app, "writer")
    seen = await newest_seq(app)
    ids = [await write(writer, f"missed {n}") for n in range(3)]
    async with opened(app.test_client(), after=seen) as socket:
        while isinstance(frame := json.loads(await asyncio.wait_for(socket.receive(), 5)), dict):
            assert frame["type"] == "ping"  # a heartbeat may come first
    assert [(event["type"], event["id"]) for event in frame] == [("created", i) for i in ids]


async def next_frame(socket: Any) -> Any:
    """The next frame as sent, a heartbeat's skipped."""
    while True:
        found = json.loads(await asyncio.wait_for(socket.receive(), 5))
        if not (isinstance(found, dict) and found["type"] == "ping"):
            return found


async def test_writes_close_together_share_a_frame_and_a_lone_one_goes_at_once(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "DELIVER_GAP", 1.0)  # long enough for a slow machine
    writer = await member(app, "writer")
    async with opened(app.test_client()) as socket:
        first = await write(writer, "the first: nothing went out before it")
        assert (await next_frame(socket))["id"] == first
        await asyncio.sleep(1.1)  # a quiet spell longer than the gap
        started = time.monotonic()
        lone = await write(writer, "after a quiet spell")
        assert (await next_frame(socket))["id"] == lone
        assert time.monotonic() - started < 0.8  # not held back for the gap
        # Two more, each its own commit, well within the gap after the last frame:
        # read together once the gap has passed, they leave as one frame.
        close = [await write(writer, f"close behind {n}") for n in range(2)]
        together = await next_frame(socket)
        assert time.monotonic() - started >= 1.0
        assert [(event["type"], event["id"]) for event in together] == [
            ("created", message_id) for message_id in close
        ]


async def test_a_backlog_is_read_on_at_once_not_a_gap_per_batch(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "DELIVER_GAP", 1.0)
    monkeypatch.setattr(fanout, "BATCH", 2)  # rows read at once: 5 rows, 3 reads
    await member(app, "writer")
    async with opened(app.test_client()) as socket, db.sessionmaker(app)() as session:
        started = time.monotonic()
        writer = await session.scalar(select(User.id).where(User.username == "writer"))
        messages = [Message(body=f"one of five {n}", writer_id=writer) for n in range(5)]
        session.add_all(messages)
        await session.flush()
        ids = [message.id for message in messages]
        await session.commit()  # one commit: the hub is woken once
        heard = [(await next_event(socket))["id"] for _ in ids]
        assert heard == ids
        assert time.monotonic() - started < 0.8  # not a gap between batches
