"""Korean and English: which language a request gets, its catalog, and its formats.

The language comes from the `lang` cookie, else `Accept-Language` (q-values
respected), else `GUESTBOOK_DEFAULT_LOCALE`. A before-request step puts its catalog
in a context variable: Jinja's i18n extension calls `gettext` synchronously inside
async rendering, and a context variable is read without a proxy lookup per string.
Catalogs are loaded once per app, from the compiled `.mo` files in `translations/`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from quart import Quart, Response, current_app, g, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from . import config

LOCALES = config.LANGUAGES
DEFAULT = "en"  # the language the sources are written in
COOKIE = "lang"
ONE_YEAR = 365 * 24 * 3600
TRANSLATIONS = Path(__file__).parent / "translations"
_EXT = "guestbook.i18n"
# Outside a request (the CLI, the tests' helpers) text stays as written: English.
_SOURCE = NullTranslations()
_current: ContextVar[NullTranslations | None] = ContextVar("translations", default=None)


def _catalog() -> NullTranslations:
    catalog = _current.get()
    return _SOURCE if catalog is None else catalog


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


def gettext(message: str, **variables: Any) -> str:
    text = _catalog().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    """The plural form for `n`; `%(num)s` in the text is `n` formatted for the locale."""
    variables.setdefault("num", number(n))
    return _catalog().ngettext(singular, plural, n) % variables


def number(value: int) -> str:
    """1234 as "1,234" (the same in Korean)."""
    return format_decimal(value, locale=locale())


def locale() -> str:
    """The current language: "en" or "ko"."""
    return getattr(_catalog(), "locale", DEFAULT)


def _catalogs(app: Quart) -> dict[str, NullTranslations]:
    return app.extensions[_EXT]


@contextlib.contextmanager
def using(language: str | None) -> Iterator[None]:
    """Text and formats in `language` for the block: a mail in its recipient's language."""
    if language not in LOCALES:
        language = config.current().default_locale
    token = _current.set(_catalogs(current_app)[language])
    try:
        yield
    finally:
        _current.reset(token)


def pick(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The language for a request: a valid cookie, else the best of Accept-Language
    ("ko-KR" counts as "ko"; q=0 refuses), else `default`. Never raises."""
    if cookie in LOCALES:
        return cookie  # type: ignore[return-value]
    if accept_language:
        offered = parse_accept_header(accept_language[:1000], LanguageAccept)
        best = offered.best_match(LOCALES)
        if best:
            return best
    return default


async def choose_language() -> None:
    """A before-request step (see `create_app`): `g.locale` and the request's catalog."""
    g.locale = pick(
        request.cookies.get(COOKIE),
        request.headers.get("Accept-Language"),
        config.current().default_locale,
    )
    _current.set(_catalogs(current_app)[g.locale])


def set_cookie(response: Response, language: str) -> None:
    """The `lang` cookie, as site.js sets it too: a year, the whole site, readable by
    scripts on purpose (it says nothing secret)."""
    response.set_cookie(
        COOKIE,
        language,
        max_age=ONE_YEAR,
        path="/",
        samesite="Lax",
        httponly=False,
        secure=config.current().cookie_secure,
    )


def _load(language: str) -> NullTranslations:
    catalog = Translations.load(str(TRANSLATIONS), [language])
    catalog.locale = language  # type: ignore[attr-defined]
    return catalog


def init_app(app: Quart) -> None:
    app.extensions[_EXT] = {language: _load(language) for language in LOCALES}
    app.jinja_env.add_extension("jinja2.ext.i18n")
    # newstyle: `_("Hi %(name)s", name=...)` escapes its variables and formats itself,
    # so Jinja gets the bare lookups.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: _catalog().gettext(message),
        lambda singular, plural, n: _catalog().ngettext(singular, plural, n),
        newstyle=True,
    )

    @app.after_request
    async def _language_headers(response: Response) -> Response:
        # A page's language depends on the cookie and Accept-Language: a shared cache
        # must key on both.
        if response.mimetype == "text/html":
            response.vary.update(("Cookie", "Accept-Language"))
            response.content_language.add(g.get("locale", DEFAULT))
        return response
