"""The language switch: the lecture's cookie write again, for the `lang` cookie.

A POST with no CSRF token: readers have no session to hold one, and all it does is
set a cookie that only changes the language, and send the visitor back to a path of
this site. The one thing that would make it worth forging, changing a member's saved
language from another site, is refused by `security.same_site_only`.
"""

from __future__ import annotations

from quart import Blueprint, g, redirect, request
from werkzeug.exceptions import BadRequest

from . import i18n, members
from .forms import text
from .i18n import gettext
from .security import safe_next, same_site_only, set_script_cookie

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
        await members.change(g.user, locale=choice)
        await g.db.commit()
    return response
