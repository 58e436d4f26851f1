"""One-click unsubscribe from reply mail (RFC 8058): the link in every such mail. The
signed token in the URL is the authority, for that member only: no login, no form
token. A GET (a person's click) shows a button; a POST (theirs, or the mail
program's `List-Unsubscribe=One-Click`) switches reply mail off."""

from __future__ import annotations

from quart import Blueprint, render_template, request
from werkzeug.exceptions import NotFound

from guestbook.accounts import services
from guestbook.i18n import gettext
from guestbook.web.csrf import signed_link

bp = Blueprint("unsubscribe", __name__)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@signed_link
async def unsubscribe(token: str):
    member = await services.unsubscriber(token)
    if member is None:
        raise NotFound(gettext("This unsubscribe link is not valid."))
    if request.method == "POST":
        await request.form  # the whole request read before writing
        await services.set_reply_mail(member, False)
    return await render_template(
        "account/unsubscribe.html", member=member, done=request.method == "POST"
    )
