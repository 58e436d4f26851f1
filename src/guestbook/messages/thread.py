"""A message's own page with its replies, answering it, and liking a message or a
reply: read the form, call `services`, render or redirect."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import TooManyRequests

from guestbook.accounts.auth import login_required
from guestbook.cache.page_cache import kept_whole
from guestbook.forms import FieldError, text
from guestbook.i18n import gettext
from guestbook.lib.numbers import whole_number
from guestbook.limits import spam
from guestbook.messages import reads, services
from guestbook.messages.lists import message_list
from guestbook.messages.pace import retry_after, slow_down
from guestbook.messages.pagination import Page
from guestbook.models import ID_MAX
from guestbook.web.urls import safe_next

bp = Blueprint("thread", __name__)


@bp.get("/messages/<int:message_id>")
@kept_whole()
async def page(message_id: int):
    return await _render(message_id)


async def _render(message_id: int, body: str = "", error: str | None = None, status: int = 200):
    found = await reads.thread(message_id)
    if found.message.id != message_id:  # a reply: its message's page, at the reply
        return redirect(url_for("thread.page", message_id=found.message.id) + f"#m{message_id}")
    # Answering a reply (?to=its id): the form posts to it, so it starts with `@name`.
    to = whole_number(request.args.get("to", ""), ID_MAX)
    answering = next((reply for reply in found.replies if reply.id == to), None)
    html = await render_template(
        "messages/page.html",
        thread=found,
        message=await message_list(Page((found.message,), None), thread=True),
        replies=await message_list(
            Page(found.replies, None), empty=gettext("No replies yet."), thread=True
        ),
        answering=answering,
        body=body,
        error=error,
    )
    return html, status


@bp.post("/messages/<int:message_id>/replies")
@login_required
async def reply(message_id: int):
    form = await request.form
    if spam.trapped(form):
        return await spam.decoy(gettext("Replied."))
    raw = text(form, "body")
    try:
        parent_id, reply_id = await services.reply(g.user, message_id, raw)
    except FieldError as err:
        return await _render(message_id, body=raw, error=err.message, status=400)
    except TooManyRequests as err:
        html, status = await _render(message_id, body=raw, error=slow_down(err), status=429)
        return html, status, retry_after(err)
    await flash(gettext("Replied."))
    return redirect(url_for("thread.page", message_id=parent_id) + f"#m{reply_id}")


@bp.post("/messages/<int:message_id>/like")
@login_required
async def like(message_id: int):
    """A toggle: like it, or stop liking it. Read the whole request before writing."""
    back = safe_next(text(await request.form, "next"), url_for("messages.index"))
    await services.like(g.user, message_id)
    return redirect(back)
