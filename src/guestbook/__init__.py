"""Guestbook: the Flask lecture app on cookies, sessions and `g`, rewritten on Quart."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from hypercorn.middleware import ProxyFixMiddleware
from quart import Quart
from quart_auth import QuartAuth

from . import (
    db,
    errors,
    fanout,
    filters,
    i18n,
    mail,
    passwords,
    ratelimit,
    security,
    spam,
)
from .config import Settings


def create_app(config: Settings | dict[str, Any] | None = None) -> Quart:
    """The app factory. `config` is a `Settings`, or overrides on top of the
    environment's settings (tests pass a dict); nothing is read at import time."""
    if isinstance(config, Settings):
        settings = config.checked()
    else:
        settings = Settings.from_env(**(config or {}))

    cookie_prefix = "__Host-" if settings.cookie_secure else ""
    app = Quart(__name__, instance_path=str(settings.instance_path.resolve()))
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
    QuartAuth(app)  # one instance per app: a shared one would keep the first app's settings

    db.init_app(app, settings)
    security.init_app(app)
    passwords.init_app(app, settings)
    ratelimit.init_app(app, settings)
    mail.init_app(app, settings)
    fanout.init_app(app, settings)
    errors.init_app(app)
    i18n.init_app(app)
    filters.init_app(app)
    spam.init_app(app)

    from . import (
        account,
        auth,
        feeds,
        language,
        live,
        messages,
        moderation,
        ops,
        reports,
        request_path,
        users,
    )

    request_path.init_app(app)
    for module in (ops, auth, messages, users, account, moderation, reports, feeds, live, language):
        app.register_blueprint(module.bp)
    ops.redact_access_log()
    # Template context processors that are plain functions (quart-auth's, and the Flask
    # default every blueprint inherits) would each run in a worker thread on every
    # render: a thread round trip per page for a few lookups. Run them inline.
    for processors in app.template_context_processors.values():
        processors[:] = [_inline(processor) for processor in processors]

    @app.while_serving
    async def _freeze_what_lives_as_long_as_the_process() -> AsyncIterator[None]:
        # Modules, settings, catalogs, the engine: made once and kept. Frozen, a full
        # collection no longer scans them, only what requests made: its pauses, which
        # stall every request in flight, stay short (POST p99 at c=16: 68 ms -> 35 ms).
        gc.freeze()
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
