"""Hidden means hidden on every route that shows a message: a stranger (a member who is
neither its writer nor a moderator) never reads a hidden message's text, on pages,
fragments (whatever `?profile=` says) or feeds (live frames: moderation/test_moderation.py);
its writer still sees it, marked, on their own profile."""

from __future__ import annotations

from quart import Quart

from support import member, page_text, write

SECRET = "the hidden words"


async def hidden_message(app: Quart):  # noqa: ANN201
    moderator = await member(app, "mod", moderator=True)
    writer = await member(app, "writer")
    stranger = await member(app, "stranger")
    message_id = await write(writer, SECRET)
    response = await moderator.post(f"/messages/{message_id}/hide", form={"reason": "x"})
    assert response.status_code == 302
    return message_id, writer, stranger


async def test_a_stranger_never_reads_a_hidden_message(app: Quart) -> None:
    message_id, _writer, stranger = await hidden_message(app)
    reader = app.test_client()
    pages = [
        "/",
        "/users/writer",
        "/feed.atom",
        "/users/writer/feed.atom",
        f"/messages/{message_id}/fragment",
        f"/messages/{message_id}/fragment?profile=stranger",
        f"/messages/{message_id}/fragment?profile=writer",
        f"/messages/{message_id}/report",
        f"/messages/{message_id}",
    ]
    for visitor in (stranger, reader):
        for path in pages:
            response = await visitor.get(path)
            assert SECRET not in await page_text(response), path
            if "fragment" in path or "report" in path or path.endswith(str(message_id)):
                assert response.status_code in (302, 404), path  # a reader is sent to log in


async def test_its_writer_still_sees_it_on_their_own_profile(app: Quart) -> None:
    message_id, writer, _stranger = await hidden_message(app)
    assert SECRET in await page_text(await writer.get("/users/writer"))
    own = await writer.get(f"/messages/{message_id}/fragment?profile=writer")
    assert own.status_code == 200
    assert SECRET in await page_text(own)
    assert SECRET not in await page_text(await writer.get("/"))
