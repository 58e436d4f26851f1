"""/api/v1/users and /api/v1/me: a member's profile and messages, as their page shows
them (a blocked member's profile says so), and the token's own member. Each view's
URL and method are in `routes`, which loads this module on the API's first request."""

from __future__ import annotations

from quart import Response, g, request, url_for
from quart_schema import document_querystring, document_response

from guestbook.api import http, pages
from guestbook.api.auth import READ, bearer
from guestbook.api.problems import fails
from guestbook.api.schemas import CursorQuery, Me, Member, MessagePage
from guestbook.messages import reads


@bearer()
@document_response(Member)
@fails(401, 404)
async def profile(username: str) -> Response:
    """A member's profile"""
    found = await reads.profile(username, None, None)
    return http.answer(
        http.encoded(
            Member(
                username=found.username,
                created_at=found.created_at,
                message_count=found.count,
                moderator=found.moderator,
                blocked=found.blocked,
            )
        )
    )


@bearer()
@document_querystring(CursorQuery)
@document_response(MessagePage)
@fails(400, 401, 404)
async def messages(username: str) -> Response:
    """A member's messages and replies, newest first
    Their hidden messages are left out, as on their page for everyone but them."""
    before = request.args.get("cursor")
    found = await reads.profile(username, before, None)
    older = found.page.older
    next_url = older and url_for("api_members.messages", username=found.username, cursor=older)
    return pages.answer(*pages.encoded(found.page, next_url))


@bearer(READ)
@document_response(Me)
@fails(400, 401)
async def me() -> Response:
    """The token's member"""
    token = g.api_token
    user = token.user
    return http.answer(
        http.encoded(
            Me(
                username=user.username,
                email=user.email,
                created_at=user.created_at,
                moderator=user.is_moderator,
                scope=token.scope,
            )
        )
    )
