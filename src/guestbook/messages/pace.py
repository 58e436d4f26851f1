"""What a page says when a write is refused for its pace (a 429): the words, and the
`Retry-After` header. Shared by the pages that write: messages, replies, edits."""

from __future__ import annotations

from werkzeug.exceptions import TooManyRequests

from guestbook.i18n import ngettext


def slow_down(err: TooManyRequests) -> str:
    minutes = -(-err.retry_after // 60) if err.retry_after > 90 else 1
    return ngettext(
        "You have written a lot in a short time. Try again in a minute.",
        "You have written a lot in a short time. Try again in %(num)s minutes.",
        minutes,
    )


def retry_after(err: TooManyRequests) -> dict[str, str]:
    return {"Retry-After": str(err.retry_after)}
