"""The main page, writing, editing and deleting messages, one message's fragment for
the live script, and the popup cookie: read the form, call `services`, render."""

from __future__ import annotations

from quart import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import TooManyRequests

from guestbook.accounts.auth import login_required
from guestbook.cache.page_cache import kept_whole
from guestbook.forms import FieldError, text
from guestbook.i18n import gettext
from guestbook.limits import spam
from guestbook.messages import reads, services, shells
from guestbook.messages.lists import message_list
from guestbook.messages.pace import retry_after, slow_down
from guestbook.web.cookies import set_script_cookie
from guestbook.web.csrf import same_site_only
from guestbook.web.urls import safe_next

bp = Blueprint("messages", __name__)
POPUP_COOKIE = "popup_skip"


def popup_shown() -> bool:
    """The lecture's cookie read: a missing cookie is the normal case, not an error."""
    return request._get_current_object().cookies.get(POPUP_COOKIE) != "yes"


async def _render_index(
    body: str = "", error: str | None = None, status: int = 200, headers: dict | None = None
):
    page = await reads.newest(request.args.get("before"))
    html = await shells.render(
        "index.html",
        # Rendered once per distinct list, not once per visit (see `lists`).
        await message_list(page),
        body=body,
        error=error,
        show_popup=popup_shown(),
    )
    return html, status, headers or {}


@bp.get("/")
@kept_whole(also=popup_shown)
async def index():
    return await _render_index()


@bp.post("/messages")
@login_required
async def post():
    form = await request.form
    if spam.trapped(form):
        return await spam.decoy(gettext("Posted."))
    # The writer is whoever is logged in; a `writer_id` in the form is never read.
    raw = text(form, "body")
    try:
        await services.post(g.user, raw)
    except FieldError as err:
        return await _render_index(body=raw, error=err.message, status=400)
    except TooManyRequests as err:
        # What they wrote stays in the form.
        return await _render_index(
            body=raw, error=slow_down(err), status=429, headers=retry_after(err)
        )
    await flash(gettext("Posted."))
    return redirect(url_for("messages.index"))


@bp.route("/messages/<int:message_id>/edit", methods=["GET", "POST"])
@login_required
async def edit(message_id: int):
    if request.method == "GET":
        message = await services.editable(g.user, message_id)
        return await render_template(
            "messages/edit.html", message=message, body=message.body, error=None
        )
    raw = text(await request.form, "body")
    try:
        parent_id = await services.edit(g.user, message_id, raw)
    except FieldError as err:
        return await _render_edit(message_id, raw, err.message, 400)
    except TooManyRequests as err:
        return await _render_edit(message_id, raw, slow_down(err), 429, retry_after(err))
    await flash(gettext("Saved."))
    if parent_id is not None:  # a reply: back on its message's page
        return redirect(url_for("thread.page", message_id=parent_id) + f"#m{message_id}")
    return redirect(url_for("messages.index"))


async def _render_edit(
    message_id: int, body: str, error: str, status: int, headers: dict | None = None
):
    message = await services.editable(g.user, message_id)
    html = await render_template("messages/edit.html", message=message, body=body, error=error)
    return html, status, headers or {}


@bp.post("/messages/<int:message_id>/delete")
@login_required
async def delete(message_id: int):
    # Read the whole request before writing: a body that turns out too large (413)
    # must not have deleted anything.
    back = safe_next(text(await request.form, "next"), url_for("messages.index"))
    await services.delete(g.user, message_id)
    await flash(gettext("Deleted."))
    if back.split("#")[0] == url_for("thread.page", message_id=message_id):
        back = url_for("messages.index")  # its own page is gone with it
    return redirect(back)


def _names_its_event() -> bool:
    """A fragment asked for by today's live script: its URL holds the event's number."""
    return "seq" in request.args


@bp.get("/messages/<int:message_id>/fragment")
@kept_whole(members=False, kept_if=_names_its_event)
async def fragment(message_id: int):
    """One message's `<li>`, for the live script, rendered for this viewer (their own
    messages get Edit and Delete, others' Like); 404 once it is gone or hidden, so the
    page drops it (`?thread=yes`: as a message's own page shows it).
    On the writer's own profile (`?profile=` their name) their hidden one stays,
    marked, as the profile shows it.

    Every open page asks for it after each event. A reader's is the same for every
    reader, so it is kept whole and public, like a reader's page: a shared cache (the
    nginx sample) answers all but one. Its URL names the event (`seq`, which this view
    does not read), so no copy kept before an edit answers for the edit; one asked for
    without it (a page still running an older script) is neither kept nor public."""
    own_profile = g.user is not None and request.args.get("profile") == g.user.username
    row = await services.listed(message_id, g.user, own_hidden=own_profile)
    # Where Delete returns to: the page that fetched this, not this URL.
    back = safe_next(request.args.get("next"), url_for("messages.index"))
    liked = await reads.liked(g.user, (row,)) if g.user is not None else frozenset()
    return await render_template(
        "messages/fragment.html",
        message=row,
        back=back,
        liked=liked,
        thread=request.args.get("thread") == "yes",
    )


@bp.post("/popup/skip")
@same_site_only
async def skip_popup():
    """The lecture's cookie write: `response.set_cookie`, then back where you were.

    No session token: a reader has no session, and must get none just to read. Forged
    from another site, this POST could only hide a notice from its victim: it sets one
    cookie that the page's own script may set anyway, reads and writes nothing else,
    and redirects only within this site. What a browser marks as cross-site is
    refused all the same (`web.csrf.same_site_only`)."""
    response = redirect(safe_next(text(await request.form, "next")))
    set_script_cookie(response, POPUP_COOKIE, "yes")  # popup.js reads and writes it too
    return response
