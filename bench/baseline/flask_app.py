"""The lecture's Flask original of the benchmarked pages: Flask, Flask-SQLAlchemy (sync)
and gunicorn's sync workers.

It does the work our pages do, the Flask way: the same hooks (CSRF check, request id,
`g.user` from the login-sessions table in one joined query, `g.countdown`, security
headers), the same queries on the same tables (the models are ours, mapped once), and
the same templates rendered by Flask's sync Jinja. Only what the benchmark visits is
here; the other links in the templates lead to stubs.

    gunicorn -w 1 -b 127.0.0.1:8000 bench.baseline.flask_app:app
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_sqlalchemy import SQLAlchemy
from jinja2 import StrictUndefined
from markupsafe import Markup
from sqlalchemy import event, func, select

import guestbook
from bench.baseline import sync_url
from guestbook.config import Settings
from guestbook.forms import FieldError, check_body
from guestbook.limits import spam
from guestbook.messages import formatting, lists, pagination
from guestbook.messages.reads import Profile
from guestbook.models import Like, LoginSession, Message, User, utcnow
from guestbook.web.countdown import countdown
from guestbook.web.filters import iso, number, readable
from guestbook.web.headers import CONTENT_SECURITY_POLICY
from guestbook.web.urls import safe_next

PACKAGE = Path(guestbook.__file__).parent
TOUCH_EVERY_SECONDS = 60
WAIT_SECONDS = 0.05
EMPTY = "No messages yet."
NEWEST = select(Message).where(Message.visible, Message.parent_id.is_(None))

settings = Settings.from_env()  # the same GUESTBOOK_* variables our app reads
app = Flask(
    __name__, template_folder=str(PACKAGE / "templates"), static_folder=str(PACKAGE / "static")
)
app.config.update(
    SECRET_KEY=settings.secret_key,
    SESSION_COOKIE_NAME="gb_session",
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
    SESSION_COOKIE_SECURE=settings.cookie_secure,
    SQLALCHEMY_DATABASE_URI=sync_url(settings.database_url),
)
app.add_template_filter(readable)
app.add_template_filter(iso)
app.add_template_filter(formatting.render, "markdown")  # a message's Markdown, as ours
# The trap field, as ours (in English, like every page here).
app.add_template_global(
    lambda: spam.HONEYPOT_HTML.format(spam.HONEYPOT, spam.LEAVE_EMPTY), "honeypot"
)
app.add_template_filter(number)
# Our templates speak through gettext; the original has one language, so its text stays
# as written (Jinja's null translations) and every page is English.
app.jinja_env.add_extension("jinja2.ext.i18n")
app.jinja_env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
# Our templates are shared: a variable the baseline forgets to pass is an error (a 500
# the benchmark counts), not an empty spot that makes its page lighter than ours.
app.jinja_env.undefined = StrictUndefined
db = SQLAlchemy(app, session_options={"expire_on_commit": False})
hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The same SQLite settings as ours: WAL, synchronous=NORMAL, a busy timeout.
    for pragma in (
        "foreign_keys=ON",
        "busy_timeout=10000",
        "journal_mode=WAL",
        "synchronous=NORMAL",
    ):
        dbapi_connection.execute(f"PRAGMA {pragma}")


if settings.is_sqlite:
    with app.app_context():
        event.listen(db.engine, "connect", _pragmas)


def csrf_token() -> str:
    token = session.get("csrf_token")
    if not token:
        token = session["csrf_token"] = secrets.token_urlsafe(32)
    return token


app.add_template_global(csrf_token)


@app.before_request
def check_csrf() -> None:
    if request.method == "POST":
        expected, sent = session.get("csrf_token"), request.form.get("csrf_token")
        if not expected or not sent or not hmac.compare_digest(expected, sent):
            abort(400)


@app.before_request
def assign_request_id() -> None:
    g.request_id = secrets.token_hex(8)


@app.before_request
def load_logged_in_user() -> None:
    """The lecture's `g.user`, from the server-side session row the cookie names."""
    g.user = None
    token = session.get("login")
    if token is None:
        return
    row = db.session.execute(
        select(LoginSession).where(LoginSession.token_hash == _hash(token))
    ).scalar_one_or_none()
    now = utcnow()
    if (
        row is None
        or now - row.created_at > settings.session_absolute
        or now - row.last_seen_at > settings.session_idle
    ):
        session.pop("login", None)
        return
    if (now - row.last_seen_at).total_seconds() > TOUCH_EVERY_SECONDS:
        row.last_seen_at = now
        db.session.commit()
    g.user = row.user


@app.before_request
def no_live_updates() -> None:
    """The original has no live updates; the page's list wrapper reads these (an empty
    `after`, as on a worker that has read no events yet)."""
    g.live_seq = None
    g.live_heartbeat = settings.live.heartbeat_seconds


app.add_template_global(lambda: None, "live_after")  # the page's socket: none here


@app.before_request
def put_countdown_on_g() -> None:
    g.countdown = countdown(settings.countdown_date, utcnow(), settings.countdown_label)
    g.locale = "en"  # `<html lang>`


@app.after_request
def security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers["X-Request-ID"] = g.request_id
    if settings.is_production:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "private, no-cache")
    return response


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _page(query) -> pagination.Page:
    """The same keyset query as ours, sync."""
    size = settings.page_size
    params = pagination.cursor_params(request.args.get("before"))
    rows = db.session.execute(pagination.keyset(query, size, bool(params)), params).all()
    return pagination.Page.of(rows, size)


def _message_list(page: pagination.Page, empty: str = EMPTY) -> Markup:
    """The same macro as ours renders the list, on every request (no cache here), with
    what the member likes among it."""
    liked: frozenset[int] = frozenset()
    if g.user is not None and page.messages:
        ids = [row.id for row in page.messages]
        mine = select(Like.message_id).where(Like.user_id == g.user.id, Like.message_id.in_(ids))
        liked = frozenset(db.session.scalars(mine))
    return Markup(
        render_template(
            lists.TEMPLATE, page=page, empty=empty, liked=liked, thread=False, items=None
        )
    )


@app.get("/", endpoint="messages.index")
def index():
    page = _page(NEWEST)
    return render_template(
        "index.html",
        page=page,
        message_list=_message_list(page),
        body="",
        error=None,
        show_popup=request.cookies.get("popup_skip") != "yes",
    )


@app.post("/messages", endpoint="messages.post")
def post():
    if g.user is None:
        return redirect(url_for("auth.login", next="/"))
    try:
        body = check_body(request.form.get("body", ""))
    except FieldError:
        abort(400)
    db.session.add(Message(body=body, writer_id=g.user.id))
    db.session.commit()
    flash("Posted.")
    return redirect(url_for("messages.index"))


@app.get("/users/<username>", endpoint="users.profile")
def profile(username: str):
    user = db.session.execute(
        select(User).where(func.lower(User.username) == username.lower())
    ).scalar_one_or_none()
    if user is None:
        abort(404)
    messages = select(Message).where(
        Message.writer_id == user.id, Message.visible, pagination.IN_VIEW
    )
    count = db.session.scalar(select(func.count()).select_from(messages.subquery()))
    page = _page(messages)
    return render_template(
        "users/profile.html",
        profile=Profile.of(user, count, page),
        message_list=_message_list(page, f"{user.username} has not written anything yet."),
    )


@app.route("/auth/login", methods=["GET", "POST"], endpoint="auth.login")
def login():
    next_url = safe_next(request.args.get("next"))
    if request.method == "GET":
        return render_template("auth/login.html", next_url=next_url, values={}, error=None)
    ident = request.form.get("username", "").strip()
    user = db.session.execute(
        select(User).where(func.lower(User.username) == ident.lower())
    ).scalar_one_or_none()
    try:
        ok = user is not None and hasher.verify(user.password_hash, request.form["password"])
    except (VerificationError, InvalidHashError, KeyError):
        ok = False
    if not ok:
        return render_template(
            "auth/login.html",
            next_url=next_url,
            values={"username": ident},
            error="Wrong username or password.",
        ), 401
    token = secrets.token_urlsafe(32)
    db.session.add(
        LoginSession(
            token_hash=_hash(token),
            user_id=user.id,
            user_agent=request.headers.get("User-Agent", "")[:300],
            ip=request.remote_addr or "",
        )
    )
    db.session.commit()
    session.clear()
    session["login"] = token
    flash(f"Logged in as {user.username}.")
    return redirect(next_url)


@app.get("/bench/wait")
def wait_page():
    time.sleep(WAIT_SECONDS)  # the sync twin of our page that awaits a 50 ms call
    return "waited 50 ms\n"


@app.get("/hello")
def hello():
    return "Hello, World!"


def _not_here(**_: object):
    abort(404)


# Links the templates build but the benchmark never follows.
for rule, endpoint in [
    ("/auth/signup", "auth.signup"),
    ("/auth/logout", "auth.logout"),
    ("/account", "account.settings"),
    ("/account/sessions", "account.sessions"),
    ("/messages/<int:message_id>", "thread.page"),
    ("/messages/<int:message_id>/like", "thread.like"),
    ("/popup/skip", "messages.skip_popup"),
    ("/lang", "language.switch"),
    ("/messages/<int:message_id>/edit", "messages.edit"),
    ("/messages/<int:message_id>/delete", "messages.delete"),
    ("/messages/<int:message_id>/report", "reports.report"),
    ("/messages/<int:message_id>/hide", "moderation.hide"),
    ("/messages/<int:message_id>/remove", "moderation.remove"),
    ("/moderation", "moderation.queue"),
    ("/feed.atom", "feeds.site"),
    ("/users/<username>/feed.atom", "feeds.member"),
    ("/messages/<int:message_id>/fragment", "messages.fragment"),
    ("/live", "live.live"),
]:
    app.add_url_rule(rule, endpoint, _not_here, methods=["GET", "POST"])


def _missing_link(error: Exception, endpoint: str, values: dict) -> str:
    # A template gained a link to a page this baseline lacks: say so (and build
    # something) instead of failing the benchmark.
    app.logger.warning("baseline has no route for %r; add a stub", endpoint)
    return "/" + endpoint.replace(".", "/")


app.url_build_error_handlers.append(_missing_link)
