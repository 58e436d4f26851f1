"""A page of messages as the API answers it: the body, and the `Link` header to the
next (older) page; shared by the main list and members' lists."""

from __future__ import annotations

from quart import Response

from guestbook.api import http
from guestbook.api.schemas import Message, MessagePage
from guestbook.messages.pagination import Page


def encoded(page: Page, next_url: str | None) -> tuple[bytes, str | None]:
    """The page's body, and its `Link` header (None on the last page)."""
    body = http.encoded(
        MessagePage(messages=[Message.of(row) for row in page.messages], next_cursor=page.older)
    )
    return body, None if next_url is None else f'<{next_url}>; rel="next"'


def answer(body: bytes, link: str | None) -> Response:
    return http.answer(body, **({"Link": link} if link else {}))
