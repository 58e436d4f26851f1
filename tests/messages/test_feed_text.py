"""No stored text yields an ill-formed feed: what XML 1.0 forbids is refused at the
form, and the feed writer drops it whatever reached the table (a row from before, psql)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart
from sqlalchemy import insert, select

from guestbook import db
from guestbook.models import Message, User, utcnow
from support import field_error, member, page_text

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize("character", ["\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\x0b"])
async def test_the_form_refuses_what_xml_forbids(app: Quart, character: str) -> None:
    writer = await member(app, "writer")
    response = await writer.post("/messages", form={"body": f"a{character}b"})
    assert response.status_code == 400
    assert field_error(await page_text(response), "body")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.text(
        st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
        min_size=1,
        max_size=60,
    )
)
async def test_no_stored_text_makes_either_feed_ill_formed(app: Quart, body: str) -> None:
    async with db.sessionmaker(app)() as session:
        writer = await session.scalar(select(User).where(User.username == "feeder"))
        if writer is None:
            writer = User(username="feeder", email="feeder@example.com", password_hash="x")
            session.add(writer)
            await session.flush()
        await session.execute(
            insert(Message).values(body=body, writer_id=writer.id, created_at=utcnow())
        )
        await session.commit()
    for path in ("/feed.atom", "/users/feeder/feed.atom"):
        response = await app.test_client().get(path)
        assert response.status_code == 200
        feed = ET.fromstring(await response.get_data())  # noqa: S314 (our own feed; raises if ill-formed)
        assert feed.tag == f"{ATOM}feed"
