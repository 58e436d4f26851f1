"""Reading and checking form fields: every field's rule in one place, but a member's
name, whose rules (scripts, look-alikes) have a module of their own, `accounts.names`.

Each `check_*` returns the cleaned value or raises `FieldError` with the message
shown next to the field. The limits come from `models`, so a form can never accept
what the table would not hold.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from werkzeug.datastructures import MultiDict

from guestbook.i18n import gettext, ngettext, number
from guestbook.models import (
    BODY_MAX,
    EMAIL_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    REASON_MAX,
    TOKEN_NAME_MAX,
)

# local@domain.tld, no spaces or angle brackets: a syntax check, not a deliverability check.
EMAIL_RE = re.compile(r"[^@\s<>\"',;]{1,64}@(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")
# Control characters other than tab and newline have no place in text people type
# (NUL in particular cannot be stored by PostgreSQL), nor have surrogates and Unicode's
# noncharacters (U+FFFE and U+FFFF are not even allowed in XML: one would break the feeds).
_CONTROL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Errors(dict[str, str]):
    """field -> message, filled by `collect`."""

    def collect(self, check: object, *args: object) -> object:
        try:
            return check(*args)  # type: ignore[operator]
        except FieldError as err:
            self.setdefault(err.field, err.message)
            return None


def text(data: Mapping[str, str], name: str) -> str:
    """One field as text: missing is empty; a repeated field counts once (the first)."""
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def repeated(data: MultiDict[str, str], *names: str) -> Errors:
    """Errors for fields sent more than once. No form of ours does that, so say so
    next to the field rather than guess which value was meant."""
    return Errors(
        {name: gettext("Sent more than once.") for name in names if len(data.getlist(name)) > 1}
    )


def printable(value: str) -> str:
    """`value` without the control characters a field may not hold: for text we store
    but never asked for, like the User-Agent header (HTTP/1.1 lets most of them through)."""
    return _CONTROL_RE.sub("", value)


def _at_most(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise FieldError(
            field,
            gettext(
                "At most %(max)s characters (this is %(length)s).",
                max=number(limit),
                length=number(len(value)),
            ),
        )


def _no_control(field: str, value: str) -> None:
    if _CONTROL_RE.search(value):
        raise FieldError(field, gettext("Contains characters that cannot be stored."))


def check_token_name(value: str, field: str = "name") -> str:
    """An API token's name: what its member will know it by on the account page."""
    value = value.strip()
    if not value:
        raise FieldError(field, gettext("Give the token a name."))
    _no_control(field, value)
    _at_most(field, value, TOKEN_NAME_MAX)
    return value


def check_email(value: str, field: str = "email") -> str:
    """An address as mail servers spell it: NFKC (fullwidth letters become ASCII)
    and the domain in IDNA's ASCII form ("xn--")."""
    value = unicodedata.normalize("NFKC", value.strip())
    if not value:
        raise FieldError(field, gettext("Enter your email address."))
    _no_control(field, value)
    local, _, domain = value.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        domain = ""
    value = f"{local}@{domain}"
    if len(value) > EMAIL_MAX or not EMAIL_RE.fullmatch(value):
        raise FieldError(field, gettext("Enter a valid email address, like name@example.com."))
    return value


def check_new_email(value: str, field: str = "email") -> str:
    """An address for a new account: also an ASCII local part. A non-ASCII one needs
    SMTPUTF8 at every server on the way, which we cannot promise, so it is refused
    here rather than bounced later."""
    value = check_email(value, field)
    if not value.isascii():
        raise FieldError(
            field,
            gettext("Use an address with only Latin letters, digits and dots before the @."),
        )
    return value


def check_new_password(password: str, confirm: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise FieldError(
            "password",
            ngettext(
                "Use at least %(num)s character.", "Use at least %(num)s characters.", PASSWORD_MIN
            ),
        )
    if len(password) > PASSWORD_MAX:
        raise FieldError(
            "password",
            ngettext(
                "Use at most %(num)s character.", "Use at most %(num)s characters.", PASSWORD_MAX
            ),
        )
    _no_control("password", password)
    if password != confirm:
        raise FieldError("password_confirm", gettext("The two passwords do not match."))
    return password


def check_body(value: str) -> str:
    # Normalise line ends so the 1000-character limit counts what the reader sees.
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        raise FieldError("body", gettext("Write something first."))
    _at_most("body", value, BODY_MAX)
    _no_control("body", value)
    return value


def check_reason(value: str) -> str:
    """A report's or a moderator's reason: optional, one line's worth."""
    value = " ".join(value.split())
    _at_most("reason", value, REASON_MAX)
    _no_control("reason", value)
    return value
