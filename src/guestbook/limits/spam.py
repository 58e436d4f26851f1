"""Spam kept out without a captcha. Each rule is a setting (0 or off disables it):

- a honeypot field on the signup and message forms, hidden from people: a bot that
  fills it is answered as if all went well, and nothing is stored
  (GUESTBOOK_SPAM_HONEYPOT);
- a signed render time on the signup form: a form sent back sooner than
  GUESTBOOK_SIGNUP_MIN_SECONDS after it was shown is refused;
- members younger than GUESTBOOK_NEW_MEMBER_HOURS may put at most
  GUESTBOOK_NEW_MEMBER_MAX_LINKS links in a message: the links it shows, which the
  caller counts (`messages.formatting.links`: the rendering belongs to messages, above
  this package);
- the same body from the same member twice within GUESTBOOK_DUPLICATE_WINDOW_SECONDS
  is refused.

A refusal raises `FieldError`, so the form comes back with what was typed in it.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from itsdangerous import BadData, URLSafeSerializer
from markupsafe import Markup
from quart import Quart, Response, current_app, flash, redirect, url_for
from werkzeug.datastructures import MultiDict

from guestbook import config
from guestbook.forms import FieldError, text
from guestbook.i18n import N_, gettext
from guestbook.limits import ratelimit
from guestbook.models import User, utcnow

HONEYPOT = "website"  # a name bots like to fill
RENDERED = "rendered"

# Off-screen rather than display:none (which some bots skip), out of the tab order,
# and hidden from screen readers.
HONEYPOT_HTML = Markup(
    '<div class="hp" aria-hidden="true"><label for="{0}">{1}</label>'
    '<input id="{0}" name="{0}" type="text" tabindex="-1" autocomplete="off"></div>'
)
LEAVE_EMPTY = N_("Leave this empty")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="guestbook form render time")


def honeypot() -> Markup:
    """The trap field, for a form's template (empty when the rule is off)."""
    if not config.current().spam_honeypot:
        return Markup()
    return HONEYPOT_HTML.format(HONEYPOT, gettext(LEAVE_EMPTY))


def render_stamp(now: float | None = None) -> Markup:
    """The signup form's hidden field: when it was shown, signed (milliseconds)."""
    stamp = _serializer().dumps(int((time.time() if now is None else now) * 1000))
    return Markup('<input type="hidden" name="{}" value="{}">').format(RENDERED, stamp)


def trapped(form: MultiDict[str, str]) -> bool:
    return config.current().spam_honeypot and bool(form.get(HONEYPOT))


async def decoy(flash_message: str) -> Response:
    """What a trapped bot sees: the answer a person would get, with nothing behind it."""
    await flash(flash_message)
    return redirect(url_for("messages.index"))


def check_render_time(form: MultiDict[str, str]) -> None:
    minimum = config.current().signup_min_seconds
    if not minimum:
        return
    try:
        shown_ms = int(_serializer().loads(text(form, RENDERED)))
    except (BadData, TypeError, ValueError):
        raise FieldError(
            "form", gettext("This form is out of date. Please send it again.")
        ) from None
    if time.time() * 1000 - shown_ms < minimum * 1000:
        raise FieldError(
            "form", gettext("That was quicker than a person types. Please send it again.")
        )


def check_links(user: User, links: int) -> None:
    """Refuses a message showing `links` links from a member still too new for them."""
    settings = config.current()
    young = utcnow() - user.created_at < timedelta(hours=settings.new_member_hours)
    if young and links > settings.new_member_max_links:
        raise FieldError(
            "body",
            gettext(
                "In their first %(hours)s hours members may post at most %(max)s links "
                "in a message (this has %(links)s).",
                hours=settings.new_member_hours,
                max=settings.new_member_max_links,
                links=links,
            ),
        )


async def check_message(user: User, body: str, links: int) -> None:
    """The rules for a new message (after the rate limit): its `links`, then repeats."""
    check_links(user, links)
    window = config.current().duplicate_window_seconds
    if not window:
        return
    # Counted atomically in the rate-limit store, before the insert: of two identical
    # posts at once, one passes. The key lives `window` seconds from the first post.
    if await ratelimit.store().incr(_repeat_key(user, body), window) > 1:
        raise FieldError("body", gettext("You posted exactly this a moment ago."))


async def forget_message(user: User, body: str) -> None:
    """The message `check_message` passed was not written (the database refused or
    timed out): it must not count as posted, or sending it again would be "a repeat"."""
    if config.current().duplicate_window_seconds:
        await ratelimit.store().decr(_repeat_key(user, body))


def _repeat_key(user: User, body: str) -> str:
    return f"gb:dup:{user.id}:{hashlib.sha256(body.encode()).hexdigest()[:32]}"


def init_app(app: Quart) -> None:
    app.add_template_global(honeypot)
    app.add_template_global(render_stamp)
