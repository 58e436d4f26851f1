"""Korean and English: which language a request gets, its catalog, and its formats.

The language comes from the `lang` cookie, else `Accept-Language` (q-values
respected), else `GUESTBOOK_DEFAULT_LOCALE`. A before-request step puts its catalog
in a context variable: Jinja's i18n extension calls `gettext` synchronously inside
async rendering, and a context variable is read without a proxy lookup per string.
Catalogs are loaded once per app, from the compiled `.mo` files in `translations/`.

May import `config` and `lib`; nothing else of the guestbook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from gettext import NullTranslations, translation
from pathlib import Path
from typing import Any

from jinja2 import pass_eval_context
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.nodes import EvalContext
from markupsafe import Markup
from quart import Quart, current_app, g, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from guestbook import config
from guestbook.lib import scope_headers

LOCALES = config.LANGUAGES
DEFAULT = "en"  # the language the sources are written in
COOKIE = "lang"
TRANSLATIONS = Path(__file__).parent / "translations"
_EXT = "guestbook.i18n"
# Outside a request (the CLI, the tests' helpers) text stays as written: English.
_SOURCE = NullTranslations()
_current: ContextVar[NullTranslations] = ContextVar("translations", default=_SOURCE)


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


def gettext(message: str, **variables: Any) -> str:
    text = _current.get().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int) -> str:
    """The plural form for `n`; `%(num)s` in the text is `n` formatted for the locale."""
    return _current.get().ngettext(singular, plural, n) % {"num": number(n)}


def number(value: int) -> str:
    """1234 as "1,234": CLDR groups by thousands with a comma in both languages
    (tests/web/test_filters.py checks it against Babel), so Babel's tables stay unloaded."""
    return f"{value:,}"


def locale() -> str:
    """The current language: "en" or "ko"."""
    return getattr(_current.get(), "locale", DEFAULT)


@contextlib.contextmanager
def using(language: str | None) -> Iterator[None]:
    """Text and formats in `language` for the block: a mail in its recipient's language."""
    if language not in LOCALES:
        language = config.current().default_locale
    token = _current.set(current_app.extensions[_EXT][language])
    try:
        yield
    finally:
        _current.reset(token)


def pick(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The language for a request: a valid cookie, else the best of Accept-Language
    ("ko-KR" counts as "ko"; q=0 refuses), else `default`. Never raises."""
    if cookie in LOCALES:
        return cookie  # type: ignore[return-value]
    if not accept_language:
        return default
    return parse_accept_header(accept_language[:1000], LanguageAccept).best_match(LOCALES, default)


async def choose_language() -> None:
    """A request step (see `web.pipeline`): `g.locale` and the request's catalog."""
    # The objects behind the proxies (`web.pipeline` says why).
    language = pick(
        request._get_current_object().cookies.get(COOKIE),
        scope_headers.header(b"accept-language"),
        config.current().default_locale,
    )
    g._get_current_object().locale = language
    _current.set(current_app._get_current_object().extensions[_EXT][language])


def _load(language: str) -> NullTranslations:
    # The standard library reads the `.mo` files pybabel compiles: Babel itself (about
    # 1 MB of code in every worker) is for extracting and compiling them, not serving.
    catalog = translation("messages", TRANSLATIONS, [language], fallback=True)
    catalog.locale = language  # type: ignore[attr-defined]
    return catalog


# Templates: Jinja's "newstyle" gettext semantics (the text is always a format string,
# its variables are escaped in HTML), in one call. The i18n extension's own `_` goes
# through three `Context.call`s per string; with a score of strings on every page that
# was most of what the language layer cost the main page.


def _formatted(eval_ctx: EvalContext, text: str, variables: dict[str, Any]) -> str:
    if not variables:
        return text  # escaped on output like any string (our messages hold no "%%")
    if eval_ctx.autoescape:
        # The catalog's text is ours, not a visitor's; `%` escapes the variables.
        return Markup(text) % variables  # noqa: S704
    return text % variables


@pass_eval_context
def _template_gettext(eval_ctx: EvalContext, message: str, **variables: Any) -> str:
    return _formatted(eval_ctx, _current.get().gettext(message), variables)


@pass_eval_context
def _template_ngettext(
    eval_ctx: EvalContext, singular: str, plural: str, n: int, **variables: Any
) -> str:
    variables.setdefault("num", n)
    return _formatted(eval_ctx, _current.get().ngettext(singular, plural, n), variables)


class _Texts:
    """`_texts["literal"]`: the request's text for a literal without variables."""

    def __getitem__(self, message: str) -> str:
        return _current.get().gettext(message)


class ConstantTexts(Extension):
    """Compiles `_("literal")` (no variables: most of a page's strings) as
    `_texts["literal"]`, a lookup, where a call in an async template costs an await
    and a `Context.call` each. Extraction reads the templates as written."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        tokens = list(stream)
        i = 0
        while i < len(tokens):
            name, opening, text, closing = (tokens[i : i + 4] + [tokens[i]] * 3)[:4]
            if (
                name.test("name:_")
                and opening.type == "lparen"
                and text.type == "string"
                and closing.type == "rparen"
            ):
                line = name.lineno
                yield Token(line, "name", "_texts")
                yield Token(line, "lbracket", "[")
                yield text
                yield Token(line, "rbracket", "]")
                i += 4
            else:
                yield name
                i += 1


def init_app(app: Quart) -> None:
    app.extensions[_EXT] = {language: _load(language) for language in LOCALES}
    # The extension for `{% trans %}` blocks; the functions are ours, with its semantics.
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        _template_gettext, _template_ngettext, newstyle=True
    )
    app.jinja_env.add_extension(ConstantTexts)
    app.jinja_env.globals.update(
        _=_template_gettext,
        _texts=_Texts(),
        gettext=_template_gettext,
        ngettext=_template_ngettext,
    )
