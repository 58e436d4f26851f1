"""Guestbook: the Flask lecture app on cookies, sessions and `g`, rewritten on Quart.

`create_app` is the one place that knows every package: it makes the extensions per
app, assembles the path of a request from the steps the packages offer, and
registers the blueprints. Nothing else imports a blueprint.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart

from guestbook import db, i18n
from guestbook.accounts import account_views, auth, deletion, language, passwords, unsubscribe
from guestbook.accounts import views as account_pages
from guestbook.api import http as api_http
from guestbook.api import routes as api_routes
from guestbook.config import Settings
from guestbook.lib import memory
from guestbook.limits import ratelimit, spam
from guestbook.live import fanout
from guestbook.live import views as live_socket
from guestbook.mail import sender
from guestbook.messages import feeds, formatting, profiles, reply_mail, thread
from guestbook.messages import views as message_pages
from guestbook.metrics import batched
from guestbook.moderation import audit, report_views
from guestbook.moderation import views as moderation_pages
from guestbook.web import (
    access,
    compiled_templates,
    conditional,
    cookies,
    countdown,
    csrf,
    errors,
    filters,
    guards,
    headers,
    logs,
    pipeline,
    probes,
    quart_app,
    static_files,
    urls,
)

# The path of a request. The request id comes first, so every log line carries it;
# then the language, so even a refused request's error page is in the visitor's
# language; the countdown needs nothing from the request, so a refused request's error
# page shows it like every other page. Then the guards: the host is ours, the head is
# bounded, the whole body has arrived in time, all before any step that can take a
# database connection (a slow client holds only its socket). A request to the API
# loads it (its views' marks are read next). The CSRF check runs before the login
# cookie is looked up, so a forged POST touches no database.
REQUEST_STEPS = (
    logs.assign_request_id,
    i18n.choose_language,
    countdown.put_countdown_on_g,
    guards.check_host,
    guards.check_head_size,
    guards.read_body,
    api_routes.load_when_asked,
    csrf.check_csrf,
    auth.load_logged_in_user,
    live_socket.remember_seq,
)
# The request id, the ETag (or a 304), the security headers, the API's CORS headers
# (for listed origins only), a routing redirect kept on this site; last, the request
# counted and logged with the status that leaves.
RESPONSE_STEPS = (
    logs.tag_response,
    conditional.answer_conditionally,
    headers.add_security_headers,
    api_http.add_cors_headers,
    urls.routing_redirect_stays_here,
    access.record,
)
# A WebSocket's handshake is checked like a request.
HANDSHAKE_STEPS = (guards.check_host, guards.check_head_size)
BLUEPRINTS = (
    probes,
    account_pages,
    message_pages,
    thread,
    profiles,
    account_views,
    moderation_pages,
    report_views,
    feeds,
    live_socket,
    language,
    unsubscribe,
)


def create_app(config: Settings | dict[str, Any] | None = None) -> Quart:
    """The app factory. `config` is a `Settings`, or overrides on top of the
    environment's settings (tests pass a dict); nothing is read at import time."""
    if isinstance(config, Settings):
        settings = config.checked()
    else:
        settings = Settings.from_env(**(config or {}))

    cookie_prefix = "__Host-" if settings.cookie_secure else ""
    app = quart_app.App(__name__, instance_path=str(settings.instance_path.resolve()))
    app.app_ctx_globals_class = db.RequestGlobals  # gives `g.db`
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        BODY_TIMEOUT=settings.body_timeout,
        # Flask's signed-cookie session, and quart-auth's login cookie: both HttpOnly,
        # SameSite=Lax, and in production Secure and `__Host-` named (Path=/, no
        # Domain), so a sibling subdomain cannot plant either.
        SESSION_COOKIE_NAME=f"{cookie_prefix}gb_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        QUART_AUTH_COOKIE_NAME=f"{cookie_prefix}gb_login",
        QUART_AUTH_COOKIE_SECURE=settings.cookie_secure,
        QUART_AUTH_COOKIE_SAMESITE="Lax",
        QUART_AUTH_DURATION=int(settings.session_absolute.total_seconds()),
        QUART_AUTH_SALT="guestbook login",
    )
    # quart-auth, remembering the cookies it checked; one instance per app: a shared one
    # would keep the first app's settings.
    cookies.LoginCookie(app)

    db.init_app(app, settings)
    cookies.init_app(app)
    csrf.init_app(app)
    passwords.init_app(app, settings)
    ratelimit.init_app(app, settings)
    sender.init_app(app, settings, producers=[reply_mail.producer(app)])
    deletion.init_app(app, after=[audit.pseudonymize])  # a deleted member's audit entries
    fanout.init_app(app, settings)
    errors.init_app(app, fronts=(("/api/", api_routes.problem),))
    i18n.init_app(app)
    filters.init_app(app)
    static_files.init_app(app)  # static URLs that name their content
    compiled_templates.init_app(app, settings)  # after every extension is added
    formatting.init_app(app)  # `markdown`: a message's filter, which `web` may not import
    spam.init_app(app)
    api_routes.init_app(app)  # /openapi.json, and the API loaded on its first request
    probes.init_app(app, checks={"redis": ratelimit.readiness, "live": fanout.readiness})
    pipeline.init_app(app, REQUEST_STEPS, RESPONSE_STEPS, HANDSHAKE_STEPS)
    for blueprint in (*(module.bp for module in BLUEPRINTS), *api_routes.BLUEPRINTS):
        app.register_blueprint(blueprint)
    logs.guard_access_log()

    # Template context processors that are plain functions (quart-auth's, and the Flask
    # default every blueprint inherits) would each run in a worker thread on every
    # render: a thread round trip per page for a few lookups. Run them inline.
    for processors in app.template_context_processors.values():
        processors[:] = [_inline(processor) for processor in processors]

    app.while_serving(batched.flushing)  # the requests' figures, written once a second

    @app.while_serving
    async def _freeze_what_lives_as_long_as_the_process() -> AsyncIterator[None]:
        # Modules, settings, catalogs, the engine: made once and kept. Frozen, a full
        # collection no longer scans them, only what requests made: its pauses, which
        # stall every request in flight, stay short (bench/RESULTS.md).
        gc.freeze()
        memory.give_back()  # what the startup freed, still counted in the worker's RSS
        yield
        gc.unfreeze()  # an app stopped in a longer-lived process (tests) leaves no trace

    if settings.proxy_hops:
        # Behind N proxies of ours, the client's address, scheme and host are the Nth-last
        # X-Forwarded-For/-Proto/-Host values (request.remote_addr, .scheme, .host).
        # Without the setting those headers are ignored: any client can send them.
        app.asgi_app = ProxyFixMiddleware(  # type: ignore[method-assign]
            _socket_schemes(app.asgi_app), mode="legacy", trusted_hops=settings.proxy_hops
        )
    return app


def _socket_schemes(asgi_app: Any) -> Any:
    """ProxyFix puts X-Forwarded-Proto's http/https on WebSocket scopes too, where
    routing expects ws/wss (else /live would be a page's URL: 404)."""

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope.get("scheme") in ("http", "https"):
            scope = {**scope, "scheme": "wss" if scope["scheme"] == "https" else "ws"}
        await asgi_app(scope, receive, send)

    return app


def _inline(function: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """`function` as a coroutine function that runs it on the event loop."""
    if inspect.iscoroutinefunction(function):
        return function

    async def inline() -> Any:
        return function()

    return inline
