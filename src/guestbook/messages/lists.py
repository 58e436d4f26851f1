"""A message list's HTML, rendered at most once per distinct input.

Every page shows messages through `_macros.html`'s `message_list` macro. Its HTML is
kept per worker, keyed by its inputs themselves: the rows (with their reply and like
counts), where the page is, and for members what they like, where their links lead
back to, and the form token their buttons carry.
"""

from __future__ import annotations

from jinja2 import Template
from markupsafe import Markup
from quart import Quart, current_app, g, request

from guestbook.i18n import gettext, locale
from guestbook.lib.lru import LRU
from guestbook.messages import reads
from guestbook.messages.pagination import Page
from guestbook.web.csrf import csrf_token

_EXT = "guestbook.messages.lists"
CAPACITY = 256  # lists of ~10 kB each: a few MB per worker at most
SOURCE = (
    '{% from "_macros.html" import message_list %}{{ message_list(page, empty, liked, thread) }}'
)


class _Lists:
    """An app's rendered lists and the macro's compiled template."""

    def __init__(self, app: Quart) -> None:
        self.kept = LRU(CAPACITY)
        self.template: Template = app.jinja_env.from_string(SOURCE)


def _lists(app: Quart) -> _Lists:
    return app.extensions.get(_EXT) or app.extensions.setdefault(_EXT, _Lists(app))


async def message_list(page: Page, empty: str | None = None, thread: bool = False) -> Markup:
    """The HTML of `message_list(page, empty, liked, thread)` for this request (`thread`:
    on a message's own page), rendered at most once per distinct input. Whatever the
    macro reads must be in the key below."""
    empty = empty or gettext("No messages yet.")
    viewer = g.get("user")
    # A member's list has forms on every message (Like; their own: Edit and Delete).
    liked = await reads.liked(viewer, page.messages) if viewer is not None else frozenset()
    key = (
        # Plain tuples: they hash and compare in C, rows in Python.
        tuple(map(tuple, page.messages)),
        page.older,
        empty,
        locale(),  # its words and time formats
        request.script_root,
        request.path,
        bool(request.args.get("before")),  # the "Newest" link
        thread,
        # Members' links and buttons, where they send them back to, their form token,
        # the viewer's role and what they like.
        (request.method, request.full_path) if viewer is not None else None,
        (viewer.id, viewer.role, csrf_token(), liked) if viewer is not None else None,
    )
    app = current_app._get_current_object()
    lists = _lists(app)
    html = lists.kept.get_recent(key)
    if html is None:
        context = {"page": page, "empty": empty, "liked": liked, "thread": thread}
        await app.update_template_context(context)
        # The output of an autoescaping template: already safe HTML.
        html = Markup(await lists.template.render_async(context))  # noqa: S704
        lists.kept.put(key, html)
    return html
