"""A member's main page after a post: the page around its list kept, the list put in.

A member's page is kept whole (`cache.page_cache`) until a write makes a new content
version; then every member's next page is rendered again, though only two things on
it changed: the message list and the live position its socket resumes from (the list
wrapper's `data-live-after`). So a member's first render is also kept as a shell, cut
at those two and keyed like the whole page without its version; after a post the page
is the shell with the new list and position put in: the same bytes a render gives
(tests/messages/test_shells.py). The page after a post then costs a fifth less, and
what a post adds to it a third less (bench/RESULTS.md, "A member's page after a post").

A shell outlives the version, so its key must hold all the page shows but the list and
the position, not only what a write can change: `cache.page_cache`'s key (the page's
URL, language, countdown badge and popup choice; the member's id, name, role and form
token), the root the app is served under and the view's own context. What settings
show is fixed for an app's life. Only the main page: nothing else on it changes with
the messages (the menu, the form, the notice), where a profile shows counts. Only
members: every reader shares one page per worker and version, so a shell would save
one render per post. Not while templates are re-read on edit (debug).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from markupsafe import Markup
from quart import Quart, current_app, g, render_template, request, session

from guestbook.lib.lru import LRU

_EXT = "guestbook.messages.shells"
# Pages without their list, 3-6 kB each: under 1 MB per worker. With more members
# active at once per worker they take each other's place: a render each, never wrong.
SHELLS = 128
AFTER = 'data-live-after="{}"'  # as `_macros.html`'s live_list writes it


@dataclass(frozen=True, slots=True)
class Shell:
    """A page cut around its live position and its list."""

    head: str
    middle: str
    tail: str

    @classmethod
    def cut(cls, html: str, after: str, listed: str) -> Shell | None:
        """`html` without `listed` and the position `after` that comes before it; None
        unless each is there exactly once (escaped text never holds either)."""
        at, mark = html.find(listed), AFTER.format(after)
        position = html.find(mark, 0, at)
        if (
            at < 0
            or position < 0
            or html.find(listed, at + 1) >= 0
            or html.find(mark, position + 1) >= 0
        ):
            return None
        return cls(html[:position], html[position + len(mark) : at], html[at + len(listed) :])

    def fill(self, after: str, listed: str) -> str:
        return "".join((self.head, AFTER.format(after), self.middle, listed, self.tail))


def _shells(app: Quart) -> LRU:
    shells = app.extensions.get(_EXT)
    return app.extensions.setdefault(_EXT, LRU(SHELLS)) if shells is None else shells


def _live_after(app: Quart) -> str:
    """The position as the page's template writes it: `live`'s template global (a
    layer this one may not import), none as an empty attribute."""
    after = app.jinja_env.globals["live_after"]()
    return "" if after is None else str(after)


async def render(template: str, listed: Markup, **context: Hashable) -> str:
    """`template` with `message_list=listed`; for a member's page that is kept
    (`g.page_key`, set by `cache.page_cache`), from its shell once it has one."""
    app = current_app._get_current_object()
    page_key, user = g.get("page_key"), g.get("user")
    if page_key is None or user is None or app.jinja_env.auto_reload:
        return await render_template(template, message_list=listed, **context)
    shells, after = _shells(app), _live_after(app)
    key = (template, page_key, request.script_root, tuple(sorted(context.items())))
    shell = shells.get_recent(key)
    if shell is not None:
        return shell.fill(after, listed)
    html = await render_template(template, message_list=listed, **context)
    shell = Shell.cut(html, after, listed)
    if shell is not None and not session.modified:  # the page itself is not kept either
        shells.put(key, shell)
    return html
