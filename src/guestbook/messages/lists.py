"""A message list's HTML, rendered at most once per distinct input; and each
message's in it.

Every page shows messages through `_macros.html`'s `message_list` macro. Its HTML is
kept per worker, keyed by its inputs themselves: the rows (with their reply and like
counts), where the page is, and for members what they like, where their links lead
back to, and the form token their buttons carry.

Each message's HTML is kept too, keyed the same way (its row, whether the viewer likes
it, where its buttons lead back to, the viewer and their token): a new message makes
every list it is on new, and each member's list is their own, so without it every
member's next page after each post rendered all twenty messages again; now it renders
the new one.
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
# Lists are 10-30 kB (27 kB for a member's twenty messages of 200 characters): up to
# ~7 MB per worker once full, as a busy site's workers soon are.
CAPACITY = 256
ITEMS = 2048  # messages of ~1 kB each: a hundred members' main pages, 2 MB at most
TEMPLATE = "messages/list.html"  # the macro, called with the list's inputs


class _Lists:
    """An app's rendered lists, each message's HTML, and the macro's compiled template."""

    def __init__(self, app: Quart) -> None:
        self.kept = LRU(CAPACITY)
        self.items = LRU(ITEMS)
        self.template: Template = app.jinja_env.get_template(TEMPLATE)


class _Items:
    """The kept messages' HTML as one rendering of a list sees them: the part of their
    key the whole list shares (`common`) is made once."""

    def __init__(self, kept: LRU, common: tuple) -> None:
        self.kept, self.common = kept, common

    def get(self, message: tuple, back: str, on: bool) -> Markup | None:
        return self.kept.get_recent((tuple(message), back, on, self.common))

    def put(self, message: tuple, back: str, on: bool, html: Markup) -> Markup:
        self.kept.put((tuple(message), back, on, self.common), html)
        return html


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
    who = (viewer.id, viewer.role, csrf_token()) if viewer is not None else None
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
        who,
        liked,
    )
    app = current_app._get_current_object()
    lists = _lists(app)
    html = lists.kept.get_recent(key)
    if html is None:
        # All a message's HTML reads but its row, where it leads back to and whether
        # it is liked: the language, the root, where it is shown, and the viewer.
        items = _Items(lists.items, (key[3], key[4], thread, who))
        context = {"page": page, "empty": empty, "liked": liked, "thread": thread, "items": items}
        await app.update_template_context(context)
        # The output of an autoescaping template: already safe HTML.
        html = Markup(await lists.template.render_async(context))  # noqa: S704
        lists.kept.put(key, html)
    return html
