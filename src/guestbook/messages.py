"""The main page, writing, editing and deleting messages, and the popup cookie."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, NotFound, TooManyRequests

from . import config, db, group_commit, list_cache, pagination, ratelimit, spam
from .auth import login_required
from .forms import FieldError, check_body, text
from .i18n import gettext, ngettext
from .models import Message, utcnow
from .security import safe_next, same_site_only, set_script_cookie
from .whole_pages import POPUP_COOKIE, kept_whole

bp = Blueprint("messages", __name__)

# The main page's messages: one object, so its page query is built once.
NEWEST = select(Message).where(Message.visible)


async def _render_index(
    body: str = "", error: str | None = None, status: int = 200, headers: dict | None = None
):
    before = request.args.get("before")
    size = config.current().page_size
    page = await list_cache.read(
        ("index", before, size), lambda: pagination.page_of(g.db, NEWEST, before, size)
    )
    await db.release()
    html = await render_template(
        "index.html",
        page=page,
        # Rendered once per distinct list, not once per visit (see list_cache).
        message_list=await list_cache.message_list(page),
        body=body,
        error=error,
        # The lecture's cookie read: a missing cookie is the normal case, not an error.
        show_popup=request.cookies.get(POPUP_COOKIE) != "yes",
    )
    return html, status, headers or {}


@bp.get("/")
@kept_whole
async def index():
    return await _render_index()


@bp.post("/messages")
@login_required
async def post():
    form = await request.form
    if spam.trapped(form):
        return await spam.decoy(gettext("Posted."))
    raw = text(form, "body")
    try:
        body = check_body(raw)
        # No member floods the book: after `post_limit` messages in a window, the next
        # one waits, and what they wrote stays in the form.
        await ratelimit.hit(ratelimit.limits()["post_account"], f"id:{g.user.id}")
        await spam.check_message(g.user, body)
    except FieldError as err:
        return await _render_index(body=raw, error=err.message, status=400)
    except TooManyRequests as err:
        minutes = -(-err.retry_after // 60) if err.retry_after > 90 else 1
        return await _render_index(
            body=raw,
            error=ngettext(
                "You have written a lot in a short time. Try again in a minute.",
                "You have written a lot in a short time. Try again in %(num)s minutes.",
                minutes,
            ),
            status=429,
            headers={"Retry-After": str(err.retry_after)},
        )
    # The writer is whoever is logged in; a `writer_id` in the form is never read.
    # Written with the posts of other requests under way, in one commit (group_commit);
    # first this request gives back its connection (SQLite has just one).
    await db.release()
    await group_commit.messages().insert(
        {"body": body, "writer_id": g.user.id, "created_at": utcnow()}
    )
    await flash(gettext("Posted."))
    return redirect(url_for("messages.index"))


async def _own_message(message_id: int) -> Message:
    message = await g.db.get(Message, message_id)
    if message is None:
        raise NotFound(gettext("There is no such message."))
    if message.writer_id != g.user.id:
        raise Forbidden(gettext("You can only change your own messages."))
    return message


@bp.route("/messages/<int:message_id>/edit", methods=["GET", "POST"])
@login_required
async def edit(message_id: int):
    message = await _own_message(message_id)
    if request.method == "GET":
        return await render_template(
            "messages/edit.html", message=message, body=message.body, error=None
        )
    raw = text(await request.form, "body")
    try:
        body = check_body(raw)
        spam.check_links(g.user, body)
    except FieldError as err:
        return await render_template(
            "messages/edit.html", message=message, body=raw, error=err.message
        ), 400
    if body != message.body:
        message.body = body
        message.updated_at = utcnow()
        await g.db.commit()
    await flash(gettext("Saved."))
    return redirect(url_for("messages.index"))


@bp.post("/messages/<int:message_id>/delete")
@login_required
async def delete(message_id: int):
    # Read the whole request before writing: a body that turns out too large (413)
    # must not have deleted anything.
    back = safe_next(text(await request.form, "next"), url_for("messages.index"))
    message = await _own_message(message_id)
    await g.db.delete(message)
    await g.db.commit()
    await flash(gettext("Deleted."))
    return redirect(back)


@bp.get("/messages/<int:message_id>/fragment")
async def fragment(message_id: int):
    """One message's `<li>`, for the live script, rendered for this viewer (their own
    messages get Edit and Delete); 404 once it is gone or hidden, so the page drops it.
    On the writer's own profile (`?profile=` their name) a hidden one stays, marked, as
    the profile shows it."""
    statement = pagination.LISTED_ONE.where(Message.id == message_id)
    own_profile = g.user is not None and request.args.get("profile") == g.user.username
    if not own_profile:
        statement = statement.where(Message.visible)
    row = (await (await g.db.connection()).execute(statement)).one_or_none()
    if row is None:
        raise NotFound(gettext("There is no such message."))
    await db.release()
    # Where Delete returns to: the page that fetched this, not this URL.
    back = safe_next(request.args.get("next"), url_for("messages.index"))
    return await render_template("messages/fragment.html", message=row, back=back)


@bp.post("/popup/skip")
@same_site_only
async def skip_popup():
    """The lecture's cookie write: `response.set_cookie`, then back where you were.

    No session token: a reader has no session, and must get none just to read. Forged
    from another site, this POST could only hide a notice from its victim: it sets one
    cookie that the page's own script may set anyway, reads and writes nothing else,
    and redirects only within this site. What a browser marks as cross-site is
    refused all the same (`security.same_site_only`)."""
    response = redirect(safe_next(text(await request.form, "next")))
    set_script_cookie(response, POPUP_COOKIE, "yes")  # popup.js reads and writes it too
    return response
