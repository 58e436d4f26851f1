"""Atom feeds (RFC 4287): the newest visible messages of the guestbook and of one member.

What a feed reads is kept by content version like the list pages (`reads.feed`), and
its answer carries an ETag of its bytes: a reader that asks again with If-None-Match
gets an empty 304 until something it shows changes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from quart import Blueprint, Response, render_template, request, url_for

from guestbook import config
from guestbook.i18n import gettext
from guestbook.messages import reads
from guestbook.web.urls import absolute_url

bp = Blueprint("feeds", __name__)

TAG_DATE = "2026"  # in every entry's tag: URI; never change it, or every id changes
# What XML 1.0 forbids (its `Char` production): a feed never holds one, whatever was stored.
XML_FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 does not allow."""
    return XML_FORBIDDEN.sub("", text)


def _tag(kind: str, ident: object) -> str:
    """A permanent id (RFC 4151 tag: URI) under the site's host name."""
    host = urlsplit(config.current().base_url).hostname or "localhost"
    return f"tag:{host},{TAG_DATE}:guestbook/{kind}/{ident}"


async def _answer(username: str | None) -> Response:
    """The feed of `username` (None: the whole guestbook)."""
    found = await reads.feed(username)
    rows = found.page.messages
    updated = max((row.updated_at or row.created_at for row in rows), default=found.since)
    if found.username is None:
        page_path, self_path = url_for("messages.index"), url_for("feeds.site")
        title, feed_id = gettext("Guestbook"), _tag("feed", "all")
    else:
        page_path = url_for("users.profile", username=found.username)
        self_path = url_for("feeds.member", username=found.username)
        title = gettext("%(name)s in the Guestbook", name=found.username)
        feed_id = _tag("member", found.user_id)
    xml = await render_template(
        "feeds/atom.xml",
        feed_id=feed_id,
        title=title,
        updated=updated,
        author=found.username or "Guestbook",
        self_url=absolute_url(self_path),
        page_url=absolute_url(page_path),
        entries=[
            (
                row,
                _tag("message", row.id),
                absolute_url(url_for("users.profile", username=row.writer_name)),
                # A message's own page; a reply's is its message's, at the reply.
                absolute_url(url_for("thread.page", message_id=row.parent_id or row.id))
                + f"#m{row.id}",
            )
            for row in rows
        ],
    )
    response = Response(xml_text(xml), content_type="application/atom+xml; charset=utf-8")
    response.headers["Cache-Control"] = "no-cache"  # keep it, but ask again (ETag) each time
    response.vary.update(("Cookie", "Accept-Language"))  # the title's language
    await response.add_etag()
    return await response.make_conditional(request)


@bp.get("/feed.atom")
async def site():
    return await _answer(None)


@bp.get("/users/<username>/feed.atom")
async def member(username: str):
    return await _answer(username)
