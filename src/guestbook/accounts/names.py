"""The rules of a member's name, in any script: `check` reads one from a form (the
signup page, `guestbook create-user`), `skeleton` is the key names that look alike
share (stored with each name, compared at signup).

A name is letters, marks and digits of any script, and `_`, `-` and `.`: 2–30
characters after NFC, in one script, as Unicode's identifier security rules (UTS #39)
have it at the "highly restrictive" level (Latin may go with Han, Hangul or Kana).
Nothing invisible, nothing that turns text around, no dot at either end (`/users/..`
would be no profile's address). ICU (PyICU) knows the scripts and look-alikes; no
table of ours does.

ICU is loaded on first use, not with the app: it is 7 MB of every worker's memory,
and most requests never need it. A lookup of an ASCII name (`findable`) needs no
ICU at all: which ASCII characters are letters and digits never changes.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from guestbook.forms import FieldError, printable
from guestbook.i18n import gettext, number
from guestbook.models import USERNAME_MAX, USERNAME_MIN

# The table keeps a name's skeleton with it (`User`'s @validates), so models computes it.
from guestbook.models import skeleton as skeleton

if TYPE_CHECKING:
    import icu

FIELD = "username"
# ICU 62's USPOOF_HIDDEN_OVERLAY (an "i" with a combining dot above: the dot hides in
# the i's own), which PyICU does not name.
_HIDDEN_OVERLAY = 256
# The ASCII characters of `_Rules.allowed`, for a lookup that needs no ICU.
_ASCII_ALLOWED = re.compile(r"[A-Za-z0-9_.\-]*")


def _characters(pattern: str) -> icu.UnicodeSet:
    """ICU's set of the characters with these Unicode properties, read-only (and so
    safe to share)."""
    import icu  # noqa: PLC0415 (loaded on first use: see the module's docstring)

    found = icu.UnicodeSet(pattern)
    found.freeze()
    return found


@functools.cache
def _rules() -> _Rules:
    return _Rules()


class _Rules:
    """ICU's sets and checker, made once, on first use."""

    def __init__(self) -> None:
        import icu  # noqa: PLC0415 (loaded on first use: see the module's docstring)

        self.letters = _characters("[[:L:][:M:][:Nd:]]")
        self.allowed = _characters(r"[[:L:][:M:][:Nd:]_\-.]")
        # U+202E and its kin make a name read in another order than it is stored.
        self.turning = _characters("[:Bidi_Control:]")
        # Zero-width spaces and joiners, soft hyphens, variation selectors, and letters
        # that show nothing, like U+3164 HANGUL FILLER: a name with one looks like one
        # without.
        self.invisible = _characters("[:Default_Ignorable_Code_Point:]")
        self.checks = checks = icu.USpoofChecks
        self.spoof = icu.SpoofChecker()
        self.spoof.setRestrictionLevel(icu.URestrictionLevel.HIGHLY_RESTRICTIVE)
        # Look-alikes of other members' names are the database's question (`skeleton`).
        self.spoof.setChecks(
            checks.RESTRICTION_LEVEL | checks.MIXED_NUMBERS | checks.INVISIBLE | _HIDDEN_OVERLAY
        )


def _refuse(message: str) -> FieldError:
    return FieldError(FIELD, message)


def check(name: str) -> str:
    """`name` as it will be stored (NFC, no spaces around it), or `FieldError` saying
    what is wrong with it."""
    name = name.strip()
    if not name:
        raise _refuse(gettext("Choose a username."))
    # Before ICU sees it: a lone surrogate cannot even be handed over.
    if printable(name) != name:
        raise _refuse(gettext("Contains characters that cannot be stored."))
    name = unicodedata.normalize("NFC", name)
    rules = _rules()
    if rules.turning.containsSome(name):
        raise _refuse(gettext("A username cannot hold direction controls (like U+202E)."))
    if rules.invisible.containsSome(name):
        raise _refuse(gettext("A username cannot hold invisible characters."))
    if not rules.allowed.containsAll(name):
        wrong = next(char for char in name if not rules.allowed.contains(char))
        raise _refuse(
            gettext(
                "A username cannot hold “%(char)s”: use letters, digits, _, - and . only.",
                char=wrong,
            )
        )
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise _refuse(
            gettext(
                "Use %(min)s to %(max)s characters (this is %(length)s).",
                min=number(USERNAME_MIN),
                max=number(USERNAME_MAX),
                length=number(len(name)),
            )
        )
    if name.startswith(".") or name.endswith("."):
        raise _refuse(gettext("A username cannot start or end with a dot."))
    if rules.letters.containsNone(name):
        raise _refuse(gettext("A username needs at least one letter or digit."))
    problems = rules.spoof.check(name)
    if problems & rules.checks.RESTRICTION_LEVEL:
        raise _refuse(gettext("Use one script per name (Latin may go with Han, Hangul or Kana)."))
    if problems & rules.checks.MIXED_NUMBERS:
        raise _refuse(gettext("Use digits of one script only."))
    if problems:  # marks stacked or hidden: they show as less than they are
        raise _refuse(gettext("A username cannot hold invisible characters."))
    return name


def findable(name: str) -> bool:
    """Whether `name` could be a member's, as a lookup (a profile, a feed, a login)
    spells it: only the characters names hold, and not too long. Older names (`___`)
    are findable though no longer allowed."""
    name = unicodedata.normalize("NFC", name.strip())
    if not (0 < len(name) <= USERNAME_MAX and printable(name) == name):
        return False
    if name.isascii():
        return _ASCII_ALLOWED.fullmatch(name) is not None
    return _rules().allowed.containsAll(name)
