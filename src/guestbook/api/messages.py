"""/api/v1/messages: the main page's list, one message with its replies, writing,
editing, deleting, replying and liking. Each operation calls the service or read its
page calls; what is hidden from the pages is hidden here, and the limits are the same
(a post here takes a slot of the member's post limit as the form does). Each view's
URL and method are in `routes`, which loads this module on the API's first request."""

from __future__ import annotations

from quart import Response, request, url_for
from quart_schema import document_querystring, document_response

from guestbook import config
from guestbook.api import http, pages
from guestbook.api.auth import WRITE, bearer, member
from guestbook.api.problems import InvalidFields, fails, takes
from guestbook.api.schemas import CursorQuery, LikeState, Message, MessagePage, NewMessage, Thread
from guestbook.cache import versions
from guestbook.forms import FieldError
from guestbook.messages import reads, services
from guestbook.messages.services import NotYours
from guestbook.moderation import services as moderation


@bearer()
@document_querystring(CursorQuery)
@document_response(MessagePage)
@fails(400, 401)
async def newest() -> Response:
    """The main page's messages, newest first
    Replies are left to their message (`GET /api/v1/messages/{message_id}`)."""
    before = request.args.get("cursor")

    async def load() -> tuple[bytes, str | None]:
        page = await reads.newest(before)
        older = page.older and url_for("api_messages.newest", cursor=page.older)
        return pages.encoded(page, older)

    # Kept whole at the content version, as the main page is: a repeat costs the one
    # version question, no query and no encoding.
    return pages.answer(*await versions.read(("api", before, config.current().page_size), load))


async def shown(message_id: int) -> bytes:
    """The message (or reply) as `GET` answers it: with its visible replies."""
    found = await reads.thread(message_id)
    if found.message.id == message_id:
        replies = [Message.of(row) for row in found.replies]
        return http.encoded(Thread(**Message.of(found.message).model_dump(), replies=replies))
    # A reply: `thread` found it visible, so it is among its message's replies.
    (reply,) = (row for row in found.replies if row.id == message_id)
    return http.encoded(Thread(**Message.of(reply).model_dump(), replies=[]))


def created(message_id: int, body: bytes) -> Response:
    location = url_for("api_messages.one", message_id=message_id)
    return http.answer(body, 201, Location=location)


@bearer()
@document_response(Thread)
@fails(401, 404)
async def one(message_id: int) -> Response:
    """A message with its replies, or a reply
    A hidden message, and the replies of one, are not found."""
    return http.answer(await shown(message_id))


@bearer(WRITE)
@takes(NewMessage)
@document_response(Thread, 201)
@fails(400, 401, 403, 415, 422, 429)
async def write(data: NewMessage) -> Response:
    """Write a message
    With the page's rules and limits: the same text twice in a while, too many links
    from a new member, or past the post limit, is refused."""
    writer = member()
    try:
        posted = await services.post(writer, data.body)
    except FieldError as err:
        raise InvalidFields.of(err) from None
    message = Thread(
        id=posted.id,
        body=posted.body,
        writer=writer.username,
        created_at=posted.created_at,
        updated_at=None,
        parent_id=None,
        reply_count=0,
        like_count=0,
        replies=[],
    )  # as it was committed: answered without reading it back
    return created(posted.id, http.encoded(message))


@bearer(WRITE)
@takes(NewMessage)
@document_response(Thread)
@fails(400, 401, 403, 404, 412, 415, 422, 429)
async def edit(message_id: int, data: NewMessage) -> Response:
    """Change your own message's text
    With `If-Match`, only if it is still as you read it (else 412)."""
    writer = member()
    await services.editable(writer, message_id)
    http.unchanged(await shown(message_id))
    try:
        await services.edit(writer, message_id, data.body)
    except FieldError as err:
        raise InvalidFields.of(err) from None
    versions.forget()  # read before the edit (If-Match), now read again
    return http.answer(await shown(message_id))


@bearer(WRITE)
@document_response(None, 204)
@fails(401, 403, 404, 412)
async def delete(message_id: int) -> Response:
    """Delete your own message (a moderator: any message)
    A moderator's deletion is logged as the moderation page's is. With `If-Match`,
    only if it is still as you read it (else 412)."""
    writer = member()
    if request.if_match:
        http.unchanged(await shown(message_id))
    try:
        await services.delete(writer, message_id)
    except NotYours:
        if not writer.is_moderator:
            raise
        await moderation.remove(writer, message_id, reason="")
    return Response(status=204)


@bearer(WRITE)
@takes(NewMessage)
@document_response(Thread, 201)
@fails(400, 401, 403, 404, 415, 422, 429)
async def reply(message_id: int, data: NewMessage) -> Response:
    """Reply to a message
    Replying to a reply answers its message, starting with `@name`."""
    try:
        _parent, reply_id = await services.reply(member(), message_id, data.body)
    except FieldError as err:
        raise InvalidFields.of(err) from None
    return created(reply_id, await shown(reply_id))


@bearer(WRITE)
@document_response(LikeState)
@fails(401, 403, 404, 429)
async def like(message_id: int) -> Response:
    """Like a message
    Liking it again changes nothing."""
    return await _liking(message_id, True)


@bearer(WRITE)
@document_response(LikeState)
@fails(401, 403, 404, 429)
async def unlike(message_id: int) -> Response:
    """Stop liking a message"""
    return await _liking(message_id, False)


async def _liking(message_id: int, liked: bool) -> Response:
    now, count = await services.like(member(), message_id, liked=liked)
    return http.answer(http.encoded(LikeState(liked=now, like_count=count)))
