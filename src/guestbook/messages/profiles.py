"""Profiles: a member and what they wrote, through the `User.messages` relationship
(`reads.profile`)."""

from __future__ import annotations

from quart import Blueprint, g, render_template, request

from guestbook.cache.page_cache import kept_whole
from guestbook.i18n import gettext
from guestbook.messages import reads
from guestbook.messages.lists import message_list

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/<username>")
@kept_whole()
async def profile(username: str):
    found = await reads.profile(username, request.args.get("before"), g.user)
    empty = gettext("%(name)s has not written anything yet.", name=found.username)
    html = await message_list(found.page, empty=empty)
    return await render_template("users/profile.html", profile=found, message_list=html)
