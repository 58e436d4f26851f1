"""A socket at its edges: a client frame of exactly 4 KiB is read and the socket goes on
delivering (one byte more closes it with 1009), and what a socket holds is bounded."""

from __future__ import annotations

from quart import Quart

from guestbook.live.subscriber import MAX_FRAME_BYTES, TRY_AGAIN, Subscriber
from support import member, next_event, opened, write


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
