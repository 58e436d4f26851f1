"""Profiles: a member and what they wrote, through the `User.messages` relationship."""

from __future__ import annotations

from quart import Blueprint, current_app, g, render_template, request
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from . import db, list_cache, pagination
from .models import USERNAME_RE, User

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/<username>")
async def profile(username: str):
    user = None
    # A name no account can have is not looked up: PostgreSQL refuses some (NUL) outright.
    if USERNAME_RE.fullmatch(username):
        user = (
            await g.db.execute(select(User).where(func.lower(User.username) == username.lower()))
        ).scalar_one_or_none()
    if user is None:
        raise NotFound(f"There is no member called {username!r}.")
    # Flask: `user.messages.order_by(...)` on a dynamic relationship. Async: the
    # write-only collection hands back a select to run, never an implicit load.
    messages = user.messages.select()
    count = await g.db.scalar(select(func.count()).select_from(messages.subquery()))
    page = await pagination.page_of(
        g.db, messages, request.args.get("before"), current_app.config["SETTINGS"].page_size
    )
    await db.reads_done()
    message_list = await list_cache.message_list(
        page, empty=f"{user.username} has not written anything yet."
    )
    return await render_template(
        "users/profile.html", user=user, count=count, message_list=message_list
    )
