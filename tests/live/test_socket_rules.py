"""The socket's rules at their edges: numbers from the handshake parsed strictly (fuzzed),
caps counted per IPv6 network, a page's sequence kept current while no socket is open,
and a burst of edits coalesced to one event per message per second."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart
from quart.testing import WebsocketResponseError
from werkzeug.exceptions import TooManyRequests

from guestbook.lib.numbers import whole_number
from guestbook.live import fanout
from guestbook.live.coalescing import EVERY, EditCoalescer
from support import ORIGIN, member, next_event, opened, page_text, write


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),  # one past the bound
        ("²", None),
        ("٣", None),
        ("1_0", None),
        (" 1", None),
        ("+1", None),
        ("-1", None),
        ("", None),
        (None, None),
    ],
)
def test_a_number_from_a_client_is_ascii_digits_within_its_bound(text, expected) -> None:
    assert whole_number(text, 2**63 - 1) == expected


async def test_after_with_a_superscript_digit_is_a_400_not_a_500(app: Quart) -> None:
    with pytest.raises(WebsocketResponseError) as refused:
        async with app.test_client().websocket("/live?after=%C2%B2", headers=ORIGIN) as socket:
            await socket.receive()
    assert refused.value.response.status_code == 400


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=40))
async def test_no_handshake_query_makes_a_500(app: Quart, query: str) -> None:
    path = "/live?after=" + "".join(f"%{byte:02X}" for byte in query.encode())
    try:
        async with app.test_client().websocket(path, headers=ORIGIN) as socket:
            frame = await asyncio.wait_for(socket.receive(), 2)
            assert '"type"' in frame
    except WebsocketResponseError as refused:
        assert refused.response.status_code == 400
    except TimeoutError:
        # A socket already caught up (`after=0` on an empty log) rightly says nothing
        # until its first heartbeat: only a valid number may open one.
        assert whole_number(query, 2**63 - 1) is not None


def test_ipv6_clients_count_by_their_network() -> None:
    assert fanout.client_network("2001:db8:1:2:aaaa::1", 64) == "2001:db8:1:2::/64"
    assert fanout.client_network("2001:db8:1:2:bbbb::9", 64) == "2001:db8:1:2::/64"
    assert fanout.client_network("2001:db8:1:3::1", 64) == "2001:db8:1:3::/64"
    assert fanout.client_network("2001:db8::1", 128) == "2001:db8::1/128"
    assert fanout.client_network("192.0.2.7", 64) == "192.0.2.7"
    assert fanout.client_network("::ffff:192.0.2.7", 64) == "192.0.2.7"


@pytest.fixture
def settings_overrides(settings_overrides):  # noqa: ANN001, ANN201
    return {
        **settings_overrides,
        "live_max_per_address": 2,
        "live_poll_seconds": 0.2,
        "post_limit": 100,
    }


async def test_one_ipv6_network_gets_the_per_address_cap(app: Quart) -> None:
    hub = fanout.hub(app)
    first = hub.admit("2001:db8:1:2::1")
    second = hub.admit("2001:db8:1:2:ffff::2")  # another address, the same /64
    with pytest.raises(TooManyRequests):
        hub.admit("2001:db8:1:2:abcd::3")
    other = hub.admit("2001:db8:9::1")  # another network has its own
    for subscriber in (first, second, other):
        hub.leave(subscriber)
    assert hub.per_address == {}


async def test_a_page_in_a_quiet_spell_carries_the_newest_number(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "BATCH", 16)  # the catch-up reads the log in several batches
    writer = await member(app, "writer")
    hub = fanout.hub(app)
    async with opened(app.test_client()):
        pass  # the hub has read the log once, then no socket is open
    read_before = hub.seq
    assert read_before is not None
    for n in range(70):  # more than a socket's queue (64) of changes, no socket open
        await write(writer, f"message {n}")
    assert hub.seq == read_before  # no socket open: the hub read nothing meanwhile
    html = await page_text(await app.test_client().get("/"))
    after = int(re.search(r'data-live-after="(\d+)"', html).group(1))
    assert after == 70  # the newest event, from the database itself
    async with opened(app.test_client(), after=after) as socket:
        await write(writer, "one more")
        event = await next_event(socket)
        assert (event["type"], event["seq"]) == ("created", 71)  # resumed: no reload


def test_a_burst_of_edits_is_one_event_a_second() -> None:
    edits = EditCoalescer()
    assert edits.passes("edited", 7, now=100.0)
    assert not edits.passes("edited", 7, now=100.1)
    assert not edits.passes("edited", 7, now=100.5)
    assert edits.passes("edited", 8, now=100.5)  # another message has its own second
    assert edits.due(now=100.9) == []
    assert edits.due(now=100.0 + EVERY) == [(7, None)]  # the last state, once
    assert edits.due(now=102.0) == []
    assert not edits.passes("edited", 7, now=101.5)
    assert edits.passes("deleted", 7, now=101.6)  # a deletion is never held...
    assert edits.due(now=103.0) == []  # ...and drops the edit it supersedes


async def test_watchers_get_one_frame_for_a_burst_of_edits(app: Quart) -> None:
    writer = await member(app, "writer")
    message_id = await write(writer, "first")
    async with opened(app.test_client()) as socket:
        for n in range(20):
            form = {"body": f"edit {n}"}
            assert (await writer.post(f"/messages/{message_id}/edit", form=form)).status_code == 302
        frames = []
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                frames.append(await next_event(socket, timeout=deadline - time.monotonic()))
            except TimeoutError:
                break
    edited = [frame for frame in frames if frame["type"] == "edited"]
    assert 1 <= len(edited) <= 3, frames  # the first at once, the last within the second
    latest = await page_text(await app.test_client().get(f"/messages/{message_id}/fragment"))
    assert "edit 19" in latest


async def test_a_socket_that_resumes_after_a_held_edit_hears_of_it(app: Quart) -> None:
    """The edit a burst held back is in the log a socket resumes from, whether it comes
    back before or after the held frame went out."""
    writer = await member(app, "writer")
    message_id = await write(writer, "v0")
    async with opened(app.test_client()) as watching:  # the hub reads while a socket is open
        await writer.post(f"/messages/{message_id}/edit", form={"body": "v1"})
        first = await next_event(watching)
        await writer.post(f"/messages/{message_id}/edit", form={"body": "v2"})  # held
        await asyncio.sleep(EVERY + 0.5)  # the held frame has gone out
        async with opened(app.test_client(), after=first["seq"]) as resumed:
            event = await next_event(resumed)
            assert (event["type"], event["id"]) == ("edited", message_id)
            assert event["seq"] > first["seq"]
