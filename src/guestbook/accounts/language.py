"""The language switch: the lecture's cookie write again, for the `lang` cookie.

A POST with no CSRF token: readers have no session to hold one, and all it does is
set a cookie that only changes the language, and send the visitor back to a path of
this site. The one thing that would make it worth forging, changing a member's saved
language from another site, is refused by `web.csrf.same_site_only`.
"""

from __future__ import annotations

from quart import Blueprint, g, redirect, request
from werkzeug.exceptions import BadRequest

from guestbook import i18n
from guestbook.accounts import services
from guestbook.forms import text
from guestbook.i18n import gettext
from guestbook.web.cookies import set_script_cookie
from guestbook.web.csrf import same_site_only
from guestbook.web.urls import safe_next

bp = Blueprint("language", __name__)


@bp.post("/lang")
@same_site_only
async def switch():
    form = await request.form
    choice = text(form, "lang")
    if choice not in i18n.LOCALES:
        raise BadRequest(gettext("There is no such language here."))
    response = redirect(safe_next(text(form, "next")))
    set_script_cookie(response, i18n.COOKIE, choice)
    if g.user is not None:
        # The choice follows the member to the next browser they log in to.
        await services.save_language(g.user, choice)
    return response
