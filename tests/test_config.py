"""Settings from GUESTBOOK_* variables: development defaults, production refusals."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from guestbook import create_app
from guestbook.config import ConfigError, Rate, Settings, named, parse_countdown_date

STRONG_KEY = "k" * 32


def test_development_defaults_need_no_setup(tmp_path: Path) -> None:
    settings = Settings.from_env({"GUESTBOOK_INSTANCE_PATH": str(tmp_path)})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'guestbook.sqlite3'}"
    assert len(settings.secret_key) >= 32
    assert not settings.cookie_secure  # the README's http://127.0.0.1 run works in a browser


def test_development_key_is_kept_so_restarts_and_workers_agree(tmp_path: Path) -> None:
    env = {"GUESTBOOK_INSTANCE_PATH": str(tmp_path)}
    first = Settings.from_env(env).secret_key
    assert Settings.from_env(env).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # private to its owner


def test_testing_gets_a_fresh_key_each_time(tmp_path: Path) -> None:
    env = {"GUESTBOOK_ENV": "testing", "GUESTBOOK_INSTANCE_PATH": str(tmp_path)}
    assert Settings.from_env(env).secret_key != Settings.from_env(env).secret_key
    assert not (tmp_path / "secret_key").exists()


def test_values_are_parsed_by_type(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GUESTBOOK_INSTANCE_PATH": str(tmp_path),
            "GUESTBOOK_PAGE_SIZE": "5",
            "GUESTBOOK_SMTP_STARTTLS": "yes",
            "GUESTBOOK_DB_POOL_TIMEOUT": "2.5",
            "GUESTBOOK_LOGIN_WINDOW_SECONDS": "90",
            "GUESTBOOK_COUNTDOWN_DATE": "2027-03-01T09:00:00+09:00",
        }
    )
    assert settings.page_size == 5
    assert settings.smtp_starttls is True
    assert settings.db.pool_timeout == 2.5
    assert settings.login == Rate(limit=10, window_seconds=90)  # a group's part, the rest kept
    assert settings.countdown_date == datetime(2027, 3, 1, tzinfo=UTC)


def test_a_group_takes_its_parts_by_their_variable_names_or_whole() -> None:
    settings = Settings(env="testing").with_overrides(live_queue_size=5, signup=Rate(2, 30))
    assert (settings.live.queue_size, settings.live.poll_seconds) == (5, 1.0)
    assert settings.signup == Rate(limit=2, window_seconds=30)
    names = [name for name, _, _ in named(settings)]
    assert len(names) == len(set(names)) and {"live_queue_size", "signup_limit"} <= set(names)
    with pytest.raises(TypeError):  # a misspelt name is an error, never silently ignored
        settings.with_overrides(live_queue=5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GUESTBOOK_ENV": "staging"}, "GUESTBOOK_ENV='staging'"),
        ({"GUESTBOOK_PAGE_SIZE": "many"}, "GUESTBOOK_PAGE_SIZE='many' is not a valid int"),
        ({"GUESTBOOK_CSRF_ENABLED": "maybe"}, "GUESTBOOK_CSRF_ENABLED"),
        ({"GUESTBOOK_MAIL_BACKEND": "pigeon"}, "GUESTBOOK_MAIL_BACKEND='pigeon'"),
        ({"GUESTBOOK_DATABASE_URL": "postgresql://x/y"}, "postgresql+asyncpg"),
        ({"GUESTBOOK_COUNTDOWN_DATE": "soon"}, "not an ISO date"),
        ({"GUESTBOOK_COUNTDOWN_DATE": "2027-01-01T00:00"}, "needs a time zone"),
    ],
)
def test_bad_values_stop_the_start_with_one_line(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**env, "GUESTBOOK_INSTANCE_PATH": str(tmp_path)})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


PRODUCTION = {
    "GUESTBOOK_ENV": "production",
    "GUESTBOOK_DATABASE_URL": "postgresql+asyncpg://h/db",
    "GUESTBOOK_MAIL_BACKEND": "smtp",
}


@pytest.mark.parametrize("key", [None, "", "short", "x" * 31])
def test_production_refuses_a_missing_or_short_secret_key(key: str | None) -> None:
    env = dict(PRODUCTION)
    if key is not None:
        env["GUESTBOOK_SECRET_KEY"] = key
    with pytest.raises(ConfigError, match="GUESTBOOK_SECRET_KEY must be set to at least 32 bytes"):
        Settings.from_env(env)


def test_production_accepts_a_strong_key_and_makes_cookies_secure() -> None:
    settings = Settings.from_env({**PRODUCTION, "GUESTBOOK_SECRET_KEY": STRONG_KEY})
    assert settings.cookie_secure
    app = create_app(settings)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["QUART_AUTH_COOKIE_SECURE"] is True


def test_production_refuses_sqlite_unless_allowed(tmp_path: Path) -> None:
    env = {
        "GUESTBOOK_ENV": "production",
        "GUESTBOOK_SECRET_KEY": STRONG_KEY,
        "GUESTBOOK_INSTANCE_PATH": str(tmp_path),
        "GUESTBOOK_MAIL_BACKEND": "smtp",
    }
    with pytest.raises(ConfigError, match="GUESTBOOK_ALLOW_SQLITE=1"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "GUESTBOOK_ALLOW_SQLITE": "1"}).is_sqlite


def test_production_refuses_csrf_off() -> None:
    env = {**PRODUCTION, "GUESTBOOK_SECRET_KEY": STRONG_KEY, "GUESTBOOK_CSRF_ENABLED": "0"}
    with pytest.raises(ConfigError, match="CSRF"):
        Settings.from_env(env)


def test_create_app_takes_overrides_on_top_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GUESTBOOK_PAGE_SIZE", "7")
    monkeypatch.setenv("GUESTBOOK_INSTANCE_PATH", str(tmp_path))
    app = create_app({"env": "testing", "countdown_label": "Party"})
    settings = app.config["SETTINGS"]
    assert (settings.page_size, settings.countdown_label) == (7, "Party")


def test_two_apps_keep_their_own_settings(tmp_path: Path) -> None:
    one = create_app({"env": "testing", "instance_path": tmp_path, "page_size": 3})
    two = create_app({"env": "testing", "instance_path": tmp_path, "page_size": 9})
    assert one.config["SETTINGS"].page_size == 3
    assert two.config["SETTINGS"].page_size == 9
    assert one.secret_key != two.secret_key


def test_countdown_date_forms() -> None:
    assert parse_countdown_date("2027-01-01") == datetime(2027, 1, 1, tzinfo=UTC)
    seoul = parse_countdown_date("2027-01-01T00:00:00+09:00")
    assert seoul.utcoffset() == timedelta(hours=9)
    assert seoul == datetime(2026, 12, 31, 15, tzinfo=timezone.utc)  # noqa: UP017
    # To the second, as the countdown is read: a fraction would turn the badge late.
    assert parse_countdown_date("2027-01-01T00:00:00.75+00:00") == datetime(2027, 1, 1, tzinfo=UTC)


def test_default_countdown_is_the_next_new_year() -> None:
    target = Settings().countdown_date
    now = datetime.now(UTC)
    assert (target.month, target.day, target.hour) == (1, 1, 0)
    assert target.year == now.year + 1


@pytest.mark.parametrize("setting", ["post_limit", "login_window_seconds", "signup_limit"])
def test_a_rate_limit_below_one_is_refused(setting: str) -> None:
    with pytest.raises(ConfigError, match="must be 1 or more"):
        Settings.from_env({}, env="testing", **{setting: 0})


@pytest.mark.parametrize(
    ("setting", "least", "below"),
    [
        ("proxy_hops", 0, -1),
        ("login_slowdown_seconds", 0, -0.5),
        ("report_hide_threshold", 0, -1),
        ("name_quarantine_days", 0, -1),
        ("body_timeout", 0.001, 0),
        ("live_queue_size", 1, 0),
        ("mail_poll_seconds", 0.001, 0),
        ("mail_retry_seconds", 0.001, float("nan")),  # NaN passes no comparison
        ("login_ceiling", 1, 0),
        ("post_limit", 1, 0),
        ("signup_window_seconds", 1, 0),
        ("forgot_window_seconds", 1, 0),
        ("mail_max_attempts", 1, 0),
        ("max_head_bytes", 1024, 1023),
    ],
)
def test_each_number_is_checked_at_its_least(setting: str, least: float, below: float) -> None:
    values = named(Settings(env="testing").with_overrides(**{setting: least}))
    assert {name: value for name, _, value in values}[setting] == least
    with pytest.raises(ConfigError, match=f"^GUESTBOOK_{setting.upper()} must be "):
        Settings(env="testing").with_overrides(**{setting: below})
