"""What pages read, kept per worker under the database's content version, never stale.

Between two writes every visitor of a page sees the same list. The `content_version`
row's number goes up, by triggers in the database (`db.triggers`), in every
transaction that changes what a list shows, whoever runs it: this worker, another host,
a cascade, psql. A request asks the database one tiny question, "which version?",
shared with the requests asking at the same time (`lib.singleflight`), and `read`
answers from what was read at that version: after a write the version differs, so
the next request reads afresh. Nothing is invalidated by hand, so nothing can be missed.
The same row holds the logins version, under which `accounts.login_sessions` keeps who
a login cookie belongs to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from quart import current_app, g
from quart.app import Quart
from sqlalchemy import func, select

from guestbook import db
from guestbook.lib.lru import VersionedLRU
from guestbook.lib.singleflight import SharedQuestion
from guestbook.models import ContentVersion, LiveEvent

T = TypeVar("T")
_EXT = "guestbook.cache.versions"
CAPACITY = 256  # pages of ~10 kB, reads of 20 rows: a few MB per worker at most
# The content version, the logins version, and the newest live event: what a page shows
# at that content version it shows up to that event, so its socket resumes from there.
VERSIONS = (ContentVersion.version, ContentVersion.logins)
NEWEST_EVENT = select(func.coalesce(func.max(LiveEvent.seq), 0)).scalar_subquery()
VERSIONS_SQL = str(
    select(*VERSIONS, NEWEST_EVENT)
    .where(ContentVersion.id == 1)
    .compile(compile_kwargs={"literal_binds": True})
)


class _Caches:
    """An app's kept reads and whole pages, and its version question."""

    def __init__(self, app: Quart) -> None:
        self.reads, self.pages = VersionedLRU(CAPACITY), VersionedLRU(CAPACITY)

        async def ask() -> tuple[Any, ...] | None:
            async with db.control_engine(app).connect() as conn:
                return await db.driver_row(conn, VERSIONS_SQL)

        self.version = SharedQuestion(ask)


def _caches(app: Quart) -> _Caches:
    """Made on the app's first list."""
    return app.extensions.get(_EXT) or app.extensions.setdefault(_EXT, _Caches(app))


async def current() -> tuple[int, int, int] | None:
    """The database's content and logins versions and its newest live event, asked
    once per request, before
    anything that is kept under them is read; None if the row is missing. Shared with
    the requests asking at the same time (`SharedQuestion`), unless this request is
    inside a transaction already: it holds a connection (SQLite's only one), so it asks
    on it."""
    here = g._get_current_object()  # the object, not its proxy (web.pipeline)
    if "versions" not in here:
        session = db.request_session()
        if session is not None and session.in_transaction():
            here.versions = await db.driver_row(await session.connection(), VERSIONS_SQL)
        else:
            here.versions = await _caches(current_app._get_current_object()).version.answer()
    return here.versions


def forget() -> None:
    """After this request wrote: its next read asks for the versions again, and so
    reads what it wrote, not what it kept from before."""
    g.pop("versions", None)


async def content_version() -> int | None:
    found = await current()
    return None if found is None else found[0]


def pages_at(version: int) -> VersionedLRU:
    """The whole pages kept (`page_cache`), at `version`."""
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
