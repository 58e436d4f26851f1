"""What message-list pages read and render, cached per worker, never stale.

Between two writes every visitor of a page sees the same list, so two things are kept:

- `read`: what a page read from the database (its rows, a member, a count), keyed by
  the page and the `content_version` row, which triggers in the database bump in every
  transaction that changes what a list shows, whoever runs it (this worker, another
  host, a cascade, psql). A request asks the database one tiny question, "which
  version?", instead of its page queries; after a write the version differs, so the
  next request reads afresh. Nothing is invalidated by hand, so nothing can be missed.
- `message_list`: the list's HTML, keyed by its inputs themselves: the rows, where the
  page is, for members where their Report links lead back to, and, only when the
  viewer wrote some of the messages or moderates (their controls carry a form token),
  the viewer too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from jinja2 import Template
from markupsafe import Markup
from quart import current_app, g, request
from quart.app import Quart
from sqlalchemy import select

from . import db
from .i18n import gettext, locale
from .models import ContentVersion
from .pagination import Page
from .security import csrf_token
from .shared_question import SharedQuestion

T = TypeVar("T")
_EXT = "guestbook.list_cache"
CAPACITY = 256  # lists of ~10 kB each, pages of 20 rows: a few MB per worker at most
# The content version, and the logins version (`logins` keeps who a cookie belongs to).
VERSIONS = (ContentVersion.version, ContentVersion.logins)
VERSIONS_SQL = str(
    select(*VERSIONS).where(ContentVersion.id == 1).compile(compile_kwargs={"literal_binds": True})
)

# The list is `_macros.html`'s macro, so every page shows messages alike.
SOURCE = '{% from "_macros.html" import message_list %}{{ message_list(page, empty) }}'


class LRU(OrderedDict):
    """The `capacity` most recently used entries."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__()
        self.capacity = capacity

    def get_recent(self, key: Hashable) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Hashable, value: object) -> None:
        self[key] = value
        if len(self) > self.capacity:
            self.popitem(last=False)


class _Reads(LRU):
    """`read`'s entries, and the highest version seen: a lower one means the row was
    made again or a backup restored, so numbers may repeat with other data."""

    highest = -1

    def at(self, version: int) -> None:
        if version < self.highest:
            self.clear()
        self.highest = version


class _Caches:
    """An app's caches, the list's compiled template, and its version question."""

    def __init__(self, app: Quart) -> None:
        self.reads, self.lists = _Reads(), LRU()
        self.pages = _Reads()  # whole pages (whole_pages)
        self.list_template: Template = app.jinja_env.from_string(SOURCE)

        async def ask() -> tuple[Any, ...] | None:
            async with db.engine(app).connect() as conn:
                return await db.driver_row(conn, VERSIONS_SQL)

        self.version = SharedQuestion(ask)


def _caches(app: Quart) -> _Caches:
    """Made on the app's first list."""
    return app.extensions.get(_EXT) or app.extensions.setdefault(_EXT, _Caches(app))


async def versions() -> tuple[int, int] | None:
    """The database's content and logins versions, asked once per request, before
    anything that is kept under them is read; None if the row is missing. Shared with
    the requests asking at the same time (`SharedQuestion`), unless this request is
    inside a transaction already: it holds a connection (SQLite's only one), so it asks
    on it."""
    if "versions" not in g:
        session = g.__dict__.get("_db")
        if session is not None and session.in_transaction():
            g.versions = await db.driver_row(await session.connection(), VERSIONS_SQL)
        else:
            g.versions = await _caches(current_app._get_current_object()).version.answer()
    return g.versions


async def content_version() -> int | None:
    found = await versions()
    return None if found is None else found[0]


def pages_at(version: int) -> _Reads:
    """The whole pages kept (`whole_pages`), at `version`."""
    pages = _caches(current_app._get_current_object()).pages
    pages.at(version)
    return pages


async def read(key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """`await load()`, or what it returned for `key` at the database's current
    content version. `load` reads through `g.db`; what it raises is not kept (a 404 or
    a broken cursor is looked up again next time)."""
    version = await content_version()
    if version is None:  # the row is missing: nothing would tell a write, so keep nothing
        return await load()
    reads = _caches(current_app._get_current_object()).reads
    reads.at(version)
    found = reads.get_recent((version, key))
    if found is None:
        # The version was read first: a write committed meanwhile can only make these
        # reads newer than their key, never older.
        found = await load()
        reads.put((version, key), found)
    return found


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
    caches = _caches(app)
    html = caches.lists.get_recent(key)
    if html is None:
        context = {"page": page, "empty": empty}
        await app.update_template_context(context)
        # The output of an autoescaping template: already safe HTML.
        html = Markup(await caches.list_template.render_async(context))  # noqa: S704
        caches.lists.put(key, html)
    return html
