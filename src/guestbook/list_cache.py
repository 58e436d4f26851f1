"""The rendered message list, cached by everything it shows.

Twenty messages are most of the main page's template work, and between two writes
every visitor sees the same list. So the list's HTML is kept, keyed by its inputs
themselves: the rows just read from the database (ids, bodies, times, writer names),
where the page is, and, only when the viewer wrote some of the messages (their Edit
and Delete controls carry a form token), the viewer too.

Nothing is ever invalidated, because nothing can go stale: a write anywhere (this
worker, another worker or host, a migration, a deleted user's cascade) changes the
rows, so the next request makes a new key. The database is still asked on every
request; only the rendering is saved.
"""

from __future__ import annotations

from collections import OrderedDict

from jinja2 import Template
from markupsafe import Markup
from quart import current_app, g, request
from quart.app import Quart

from .pagination import Page
from .security import csrf_token

_EXT = "guestbook.list_cache"
CAPACITY = 256  # lists of ~10 kB each: a few MB per worker at most

# The list is `_macros.html`'s macro, so every page shows messages alike.
SOURCE = '{% from "_macros.html" import message_list %}{{ message_list(page, empty) }}'


class _LRU(OrderedDict):
    def get_recent(self, key: object) -> Markup | None:
        html = self.get(key)
        if html is not None:
            self.move_to_end(key)
        return html

    def put(self, key: object, html: Markup) -> None:
        self[key] = html
        if len(self) > CAPACITY:
            self.popitem(last=False)


def _state(app: Quart) -> tuple[_LRU, Template]:
    """The app's cache and its compiled template, made on first use."""
    state = app.extensions.get(_EXT)
    if state is None:
        state = app.extensions[_EXT] = (_LRU(), app.jinja_env.from_string(SOURCE))
    return state


async def message_list(page: Page, empty: str = "No messages yet.") -> Markup:
    """The HTML of `message_list(page, empty)` for this request, rendered at most once
    per distinct input. Whatever the macro reads must be in the key below."""
    viewer = g.get("user")
    mine = viewer is not None and any(row.writer_id == viewer.id for row in page.messages)
    key = (
        # Plain tuples: they hash and compare in C, rows in Python.
        tuple(map(tuple, page.messages)),
        page.older,
        empty,
        request.script_root,
        request.path,
        bool(request.args.get("before")),  # the "Newest" link
        # The controls on the viewer's own messages: their token, and where Delete
        # sends them back to.
        (viewer.id, csrf_token(), request.method, request.full_path) if mine else None,
    )
    app = current_app._get_current_object()
    cache, template = _state(app)
    html = cache.get_recent(key)
    if html is None:
        context = {"page": page, "empty": empty}
        await app.update_template_context(context)
        # The output of an autoescaping template: already safe HTML.
        html = Markup(await template.render_async(context))  # noqa: S704
        cache.put(key, html)
    return html
