"""Settings from GUESTBOOK_* environment variables, checked once at start.

Every setting has a development default that needs no set-up; production refuses
to start on a setting that would be unsafe there, with one line saying why.
"""

from __future__ import annotations

import operator
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import Field, dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from quart import current_app

from guestbook.lib.keyfile import kept_secret

ENVIRONMENTS = ("development", "production", "testing")
LANGUAGES = ("en", "ko")  # every language the site has catalogs for
MIN_SECRET_BYTES = 32
LOG_FORMATS = ("json", "text")
# HOST:PORT, an IPv6 host in brackets: where the metrics listener binds.
_METRICS_BIND_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}")


class ConfigError(Exception):
    """A setting that stops the start; str() is the one-line explanation."""


def _next_new_year() -> datetime:
    return datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)


def parse_countdown_date(text: str) -> datetime:
    """An ISO date ("2027-01-01", midnight UTC) or datetime with zone, to the second
    (the countdown is read to the second)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"GUESTBOOK_COUNTDOWN_DATE={text!r} is not an ISO date or datetime"
        ) from None
    if when.tzinfo is None:
        if "T" in text or " " in text.strip():
            raise ConfigError(
                f"GUESTBOOK_COUNTDOWN_DATE={text!r} needs a time zone, e.g. {text}+09:00"
            )
        when = when.replace(tzinfo=UTC)
    return when.replace(microsecond=0)


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def parse_bool(text: str) -> bool:
    """The one reading of "true" in the app: settings, and a form's checkbox ("on")."""
    lowered = text.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(text)


# How a variable is read for a setting of each type (annotations are strings here).
_READERS = dict(bool=parse_bool, int=int, float=float, Path=Path, datetime=parse_countdown_date)


def current() -> Settings:
    """The running app's settings: the one way code in a request or app context reads them."""
    # The app itself, not an attribute through its proxy (`web.pipeline` says why).
    return current_app._get_current_object().config["SETTINGS"]


@dataclass(frozen=True)
class Rate:
    """`limit` attempts per `window_seconds` (GUESTBOOK_<NAME>_LIMIT, _WINDOW_SECONDS)."""

    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Pool:
    """PostgreSQL's connections (GUESTBOOK_DB_*); SQLite uses one per process."""

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout: float = 10.0
    connect_timeout: float = 5.0
    statement_timeout_ms: int = 15_000


@dataclass(frozen=True)
class Live:
    """Live updates over the /live WebSocket (GUESTBOOK_LIVE_*)."""

    max_sockets: int = 10_000  # open sockets per worker
    max_per_address: int = 20  # open sockets per client network (below), per worker
    # An IPv6 client counts by its network of this prefix length: one /64 is one
    # household or one server, and holds millions of addresses.
    ipv6_prefix: int = 64
    queue_size: int = 64  # events waiting for one slow socket before it is closed
    heartbeat_seconds: float = 50.0  # under proxies' idle timeouts (nginx sample: 75 s)
    poll_seconds: float = 1.0  # how often the event log is read without a wake-up
    retention_seconds: int = 600  # how long events stay to resume from
    origins: str = ""  # more origins allowed to open /live, comma-separated


@dataclass(frozen=True)
class Settings:
    """What the app reads. `from_env()` builds it; tests pass overrides to `create_app`."""

    env: str = "development"
    secret_key: str = ""
    database_url: str = ""
    allow_sqlite: bool = False
    instance_path: Path = field(default_factory=lambda: Path.cwd() / "instance")
    # Where production workers keep their templates compiled (`web.compiled_templates`),
    # a folder per release; empty: `compiled-templates` in the instance folder.
    compiled_templates_path: str = ""
    base_url: str = "http://127.0.0.1:5000"
    # Host headers the app answers (comma-separated, port ignored); empty: any in
    # development and testing, the base URL's host in production.
    allowed_hosts: str = ""
    proxy_hops: int = 0  # proxies whose X-Forwarded-For and -Proto are trusted
    redis_url: str = ""
    redis_prefix: str = "gb:"  # before every key: deployments (or test runs) can share a Redis
    db: Pool = Pool()
    # Login sessions.
    session_idle_days: int = 14
    session_absolute_days: int = 30
    # Rate limits. Failed logins per (login name, address), and per address:
    login: Rate = Rate(limit=10, window_seconds=60)
    # Failed logins per login name from all addresses; past it each attempt waits
    # `login_slowdown_seconds` (slowed, never locked: the owner still gets in).
    login_ceiling: int = 100
    login_slowdown_seconds: float = 3.0
    signup: Rate = Rate(limit=10, window_seconds=3600)
    forgot: Rate = Rate(limit=5, window_seconds=3600)
    post: Rate = Rate(limit=30, window_seconds=600)  # messages written per account
    edit: Rate = Rate(limit=30, window_seconds=600)  # edits per account
    language: Rate = Rate(limit=10, window_seconds=600)  # saved-language changes per account
    like: Rate = Rate(limit=60, window_seconds=600)  # likes and unlikes per account
    token: Rate = Rate(limit=10, window_seconds=3600)  # API tokens made per account
    # Spam kept out without a captcha (0 turns a rule off; see spam.py).
    spam_honeypot: bool = True
    signup_min_seconds: float = 2.0  # a signup form sent sooner after it was shown
    new_member_hours: int = 24  # younger members may post at most `new_member_max_links`
    new_member_max_links: int = 2
    duplicate_window_seconds: int = 600  # the same body twice from one member
    # Moderation: distinct members' open reports that hide a message until a moderator
    # decides.
    report_hide_threshold: int = 3
    # Only reports from members this old, with a visible message of their own, count
    # towards that threshold (throw-away accounts cannot hide anything).
    reporter_min_hours: int = 24
    # A deleted member's name (and names that look like it) stays out of reach of new
    # members this many days; 0 frees it at once.
    name_quarantine_days: int = 30
    # Requests.
    max_body_bytes: int = 64 * 1024
    max_head_bytes: int = 16 * 1024  # request line plus headers; more gets 431
    body_timeout: float = 10.0  # seconds to receive a whole body; slower gets 408
    csrf_enabled: bool = True
    page_size: int = 20
    # Countdown on g.
    countdown_date: datetime = field(default_factory=_next_new_year)
    countdown_label: str = "New Year"
    # The language of a visitor with no `lang` cookie and no usable Accept-Language.
    default_locale: str = "en"
    # Mail.
    mail_backend: str = ""  # console in development; production must choose
    mail_from: str = "Guestbook <guestbook@localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 10.0
    mail_max_attempts: int = 8
    mail_poll_seconds: float = 2.0
    mail_retry_seconds: float = 60.0  # the first retry's delay; each next one doubles
    reset_token_seconds: int = 3600
    # A message's writer hears of replies at most once per this many minutes.
    reply_mail_minutes: float = 10.0
    live: Live = Live()
    # Other sites' origins whose pages may call the JSON API from a browser (CORS),
    # comma-separated; reads only, unless `api_cors_write` lets them write too.
    api_cors_origins: str = ""
    api_cors_write: bool = False
    # Password hashing (argon2id); tests lower the cost.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Operations: the log's format (json in production, text elsewhere) and where the
    # Prometheus metrics are served, on a listener of their own ("" serves none).
    log_format: str = ""
    metrics_bind: str = ""

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cookie_secure(self) -> bool:
        return self.is_production

    def with_overrides(self, **overrides: object) -> Settings:
        """These settings with some replaced, each named as in GUESTBOOK_<NAME> (a group's
        part as <group>_<part>, e.g. login_limit) or by its field (e.g. login=Rate(...))."""
        changes = dict(overrides)
        for f in fields(self):
            group = getattr(self, f.name)
            if is_dataclass(group):
                parts = {
                    part.name: changes.pop(name)
                    for part in fields(group)
                    if (name := f"{f.name}_{part.name}") in changes
                }
                if parts:
                    changes[f.name] = replace(changes.get(f.name, group), **parts)
        return replace(self, **changes).checked()  # an unknown name raises TypeError

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from `environ` (default: os.environ), then `overrides` on top."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        values: dict[str, object] = {}
        for name, setting, _ in named(defaults):
            key = "GUESTBOOK_" + name.upper()
            if key not in environ:
                continue
            raw = environ[key]
            try:
                values[name] = _READERS.get(setting.type, str)(raw)
            except (ValueError, TypeError):
                raise ConfigError(f"{key}={raw!r} is not a valid {setting.type}") from None
        return defaults.with_overrides(**{**values, **overrides})

    def checked(self) -> Settings:
        """Fill development defaults and refuse unsafe production settings."""
        if self.env not in ENVIRONMENTS:
            raise ConfigError(
                f"GUESTBOOK_ENV={self.env!r}: expected one of {', '.join(ENVIRONMENTS)}"
            )
        settings = self
        if not settings.database_url:
            db_file = settings.instance_path / "guestbook.sqlite3"
            settings = replace(settings, database_url=f"sqlite+aiosqlite:///{db_file}")
        if settings.is_production:
            if len(settings.secret_key.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(
                    "GUESTBOOK_SECRET_KEY must be set to at least 32 bytes in production "
                    '(make one with: python -c "import secrets; print(secrets.token_hex(32))")'
                )
            if settings.is_sqlite and not settings.allow_sqlite:
                raise ConfigError(
                    "GUESTBOOK_DATABASE_URL is SQLite in production; use PostgreSQL, or set "
                    "GUESTBOOK_ALLOW_SQLITE=1 for a single-process, single-machine deploy"
                )
            if not settings.csrf_enabled:
                raise ConfigError("GUESTBOOK_CSRF_ENABLED=0 is refused in production")
        if not settings.mail_backend:
            if settings.is_production:
                raise ConfigError(
                    "GUESTBOOK_MAIL_BACKEND must be set in production: smtp, or null to send none"
                )
            settings = replace(settings, mail_backend="console")
        if settings.is_production and settings.mail_backend == "console":
            raise ConfigError(
                "GUESTBOOK_MAIL_BACKEND=console writes reset links to the log; "
                "production needs smtp (or null)"
            )
        if settings.default_locale not in LANGUAGES:
            raise ConfigError(
                f"GUESTBOOK_DEFAULT_LOCALE={settings.default_locale!r}: expected "
                + " or ".join(LANGUAGES)
            )
        if not settings.log_format:
            settings = replace(settings, log_format="json" if settings.is_production else "text")
        if settings.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"GUESTBOOK_LOG_FORMAT={settings.log_format!r}: expected json or text"
            )
        if settings.metrics_bind and not _METRICS_BIND_RE.fullmatch(settings.metrics_bind):
            raise ConfigError(
                f"GUESTBOOK_METRICS_BIND={settings.metrics_bind!r}: expected HOST:PORT, "
                "e.g. 127.0.0.1:9100"
            )
        if settings.mail_backend not in ("console", "smtp", "null"):
            raise ConfigError(
                f"GUESTBOOK_MAIL_BACKEND={settings.mail_backend!r}: expected console, smtp or null"
            )
        values = {name: value for name, _, value in named(settings)}
        for names, holds, least, rule in (
            (_ZERO_TURNS_OFF, operator.ge, 0, "0 or more"),
            (_ABOVE_ZERO, operator.gt, 0, "above 0"),
            (_ONE_OR_MORE, operator.ge, 1, "1 or more"),
            (("max_head_bytes",), operator.ge, 1024, "1024 or more"),
            (("live_ipv6_prefix",), operator.le, 128, "128 or less"),
        ):
            for name in names:
                if not holds(values[name], least):
                    raise ConfigError(f"GUESTBOOK_{name.upper()} must be {rule}")
        if settings.smtp_ssl and settings.smtp_starttls:
            raise ConfigError("GUESTBOOK_SMTP_SSL and GUESTBOOK_SMTP_STARTTLS exclude each other")
        if (
            settings.database_url.startswith("postgresql")
            and "+asyncpg" not in settings.database_url
        ):
            raise ConfigError(
                "GUESTBOOK_DATABASE_URL for PostgreSQL must use the async driver: "
                "postgresql+asyncpg://..."
            )
        if not settings.secret_key and not settings.is_production:
            settings = replace(settings, secret_key=_development_key(settings))
        return settings

    @cached_property  # read on every request
    def hosts(self) -> frozenset[str]:
        """The Host names answered (lower case, no port); empty means any."""
        names = {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}
        if not names and self.is_production:
            names = {(urlsplit(self.base_url).hostname or "").lower()}
        return frozenset(names)

    @cached_property  # read on every API response
    def cors_origins(self) -> frozenset[str]:
        """The origins of `api_cors_origins`, as browsers send them (no trailing slash)."""
        return frozenset(
            origin.strip().rstrip("/")
            for origin in self.api_cors_origins.split(",")
            if origin.strip()
        )

    @property
    def session_idle(self) -> timedelta:
        return timedelta(days=self.session_idle_days)

    @property
    def session_absolute(self) -> timedelta:
        return timedelta(days=self.session_absolute_days)

    @property
    def name_quarantine(self) -> timedelta:
        return timedelta(days=self.name_quarantine_days)


def named(settings: Settings) -> Iterator[tuple[str, Field, object]]:
    """Every setting as (its GUESTBOOK_<NAME> lower-cased, its field, its value); a
    group's parts are named <group>_<part>."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if is_dataclass(value):
            for part in fields(value):
                yield f"{f.name}_{part.name}", part, getattr(value, part.name)
        else:
            yield f.name, f, value


# Numbers checked at start, by the least each may be. 0 turns off a spam rule, the
# report threshold, the login slowdown, or trust in proxies' headers.
_ZERO_TURNS_OFF = (
    "signup_min_seconds", "new_member_hours", "new_member_max_links",
    "duplicate_window_seconds", "report_hide_threshold", "reporter_min_hours",
    "login_slowdown_seconds", "proxy_hops", "name_quarantine_days",
)  # fmt: skip
_ABOVE_ZERO = (
    "body_timeout", "reply_mail_minutes", "mail_poll_seconds", "mail_retry_seconds",
    "live_max_sockets", "live_max_per_address", "live_queue_size", "live_heartbeat_seconds",
    "live_poll_seconds", "live_retention_seconds", "live_ipv6_prefix",
)  # fmt: skip
# Every rate limit's parts (a count per window), the login ceiling and the mail's attempts.
_ONE_OR_MORE = (
    *(name for name, part, _ in named(Settings()) if part in fields(Rate)),
    "login_ceiling",
    "mail_max_attempts",
)


def _development_key(settings: Settings) -> str:
    """Development: a random key kept in instance/secret_key, so logins survive a
    restart and every worker signs alike. Testing: a fresh key per app."""
    if settings.env == "testing":
        return secrets.token_hex(32)
    return kept_secret(settings.instance_path / "secret_key")
