"""The path of a request, in one place: the steps every request takes before its view,
and every response (an error page's too) after it, in order.

One hook runs each list, and no blueprint adds another, so no step can ever be
reordered. (One hook, not a hook per step: Quart's own work per hook was a tenth of
what a page with no work of its own costs.)
"""

from __future__ import annotations

from quart import Quart, Response

from . import auth, countdown, i18n, intake, live, ops, security, whole_pages

# The request id comes first, so every log line carries it; then the language, so even a
# refused request's error page is in the visitor's language; the countdown needs nothing
# from the request, so a refused request's error page shows it like every other page.
# Then intake: the host is ours, the head is bounded, the whole body has arrived in time,
# all before any step that can take a database connection (a slow client holds only its
# socket). The CSRF check runs before the login cookie is looked up, so a forged POST
# touches no database.
REQUEST_STEPS = (
    ops.assign_request_id,
    i18n.choose_language,
    countdown.put_countdown_on_g,
    intake.check_host,
    intake.check_head_size,
    intake.read_body,
    security.check_csrf,
    auth.load_logged_in_user,
    live.remember_seq,
)
# The request id, the ETag (or a 304), the security headers, a routing redirect kept
# on this site.
RESPONSE_STEPS = (
    ops.tag_response,
    whole_pages.answer_conditionally,
    security.add_security_headers,
    security.routing_redirect_stays_here,
)
# A WebSocket's handshake is checked like a request.
HANDSHAKE_STEPS = (intake.check_host, intake.check_head_size)


async def _before_request() -> None:
    for step in REQUEST_STEPS:
        await step()


async def _after_request(response: Response) -> Response:
    for step in RESPONSE_STEPS:
        response = await step(response)
    return response


async def _before_websocket() -> None:
    for step in HANDSHAKE_STEPS:
        await step()


def init_app(app: Quart) -> None:
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.before_websocket(_before_websocket)
