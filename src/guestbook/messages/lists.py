"""A message list's HTML, rendered at most once per distinct input.

Every page shows messages through `_macros.html`'s `message_list` macro. Its HTML is
kept per worker, keyed by its inputs themselves: the rows, where the page is, for
members where their Report links lead back to, and, only when the viewer wrote some
of the messages or moderates (their controls carry a form token), the viewer too.
"""

from __future__ import annotations

from jinja2 import Template
from markupsafe import Markup
from quart import Quart, current_app, g, request

from guestbook.i18n import gettext, locale
from guestbook.lib.lru import LRU
from guestbook.messages.pagination import Page
from guestbook.web.csrf import csrf_token

_EXT = "guestbook.messages.lists"
CAPACITY = 256  # lists of ~10 kB each: a few MB per worker at most
SOURCE = '{% from "_macros.html" import message_list %}{{ message_list(page, empty) }}'


class _Lists:
    """An app's rendered lists and the macro's compiled template."""

    def __init__(self, app: Quart) -> None:
        self.kept = LRU(CAPACITY)
        self.template: Template = app.jinja_env.from_string(SOURCE)


def _lists(app: Quart) -> _Lists:
    return app.extensions.get(_EXT) or app.extensions.setdefault(_EXT, _Lists(app))


async def message_list(page: Page, empty: str | None = None) -> Markup:
    """The HTML of `message_list(page, empty)` for this request, rendered at most once
    per distinct input. Whatever the macro reads must be in the key below."""
    empty = empty or gettext("No messages yet.")
    viewer = g.get("user")
    # A moderator's list has forms on every message; a member's, on their own.
    mine = viewer is not None and (
        viewer.is_moderator or any(row.writer_id == viewer.id for row in page.messages)
    )
    key = (
        # Plain tuples: they hash and compare in C, rows in Python.
        tuple(map(tuple, page.messages)),
        page.older,
        empty,
        locale(),  # its words and time formats
        request.script_root,
        request.path,
        bool(request.args.get("before")),  # the "Newest" link
        # Members' Report links, and where they send them back to.
        (request.method, request.full_path) if viewer is not None else None,
        # The controls on the viewer's own messages (a moderator's: on all): their
        # token and the viewer's role.
        (viewer.id, viewer.role, csrf_token()) if mine else None,
    )
    app = current_app._get_current_object()
    lists = _lists(app)
    html = lists.kept.get_recent(key)
    if html is None:
        context = {"page": page, "empty": empty}
        await app.update_template_context(context)
        # The output of an autoescaping template: already safe HTML.
        html = Markup(await lists.template.render_async(context))  # noqa: S704
        lists.kept.put(key, html)
    return html
