"""Profiles: a member and what they wrote, through the `User.messages` relationship."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from quart import Blueprint, g, render_template, request
from sqlalchemy import func, select

from . import config, db, list_cache, members, pagination
from .i18n import gettext
from .models import Message, User
from .whole_pages import kept_whole

bp = Blueprint("users", __name__, url_prefix="/users")


@dataclass(frozen=True)
class Profile:
    """What a profile page read: kept between requests (`list_cache.read`), so plain
    values, not ORM objects tied to one request's session."""

    username: str
    created_at: datetime
    count: int
    page: pagination.Page
    blocked: bool
    moderator: bool

    @classmethod
    def of(cls, user: User, count: int, page: pagination.Page) -> Profile:
        blocked = user.blocked_at is not None
        return cls(user.username, user.created_at, count, page, blocked, user.is_moderator)


async def _read_profile(username: str, before: str | None, size: int, own: bool) -> Profile:
    user = await members.named(username)
    # Flask: `user.messages.order_by(...)` on a dynamic relationship. Async: the
    # write-only collection hands back a select to run, never an implicit load.
    messages = user.messages.select()
    if not own:  # the writer alone sees their hidden messages (marked so)
        messages = messages.where(Message.visible)
    count = await g.db.scalar(select(func.count()).select_from(messages.subquery()))
    page = await pagination.page_of(g.db, messages, before, size)
    return Profile.of(user, count, page)


@bp.get("/<username>")
@kept_whole
async def profile(username: str):
    # A name no account can have is not looked up (PostgreSQL refuses some, NUL,
    # outright); any spelling of a name ("KATE", "\u212aate") is cached under its key.
    key = members.username_key(username)
    if key is None:
        raise members.not_found(username)
    before = request.args.get("before")
    size = config.current().page_size
    own = g.user is not None and g.user.username_key == key
    # A new member's page is not cached until it exists: a miss (404) is never kept.
    found = await list_cache.read(
        ("profile", key, before, size, own),
        lambda: _read_profile(username, before, size, own),
    )
    await db.release()
    message_list = await list_cache.message_list(
        found.page, empty=gettext("%(name)s has not written anything yet.", name=found.username)
    )
    return await render_template("users/profile.html", profile=found, message_list=message_list)
