"""The keys that make two spellings one: of a name or an address (compared on every
database alike, in Python, not SQL), and of names that only look alike (UTS #39)."""

from __future__ import annotations

import contextlib
import functools
import unicodedata
from typing import Any


def canonical(text: str) -> str:
    """NFKC, then full Unicode case folding (NFKC again after it, which folding can
    undo): "Ｋａｔｅ", "\u212aATE" and "kate" are one name, "STRASSE" and "straße" too,
    while "ılya" (dotless ı) stays apart from "ilya". The same in Python for every
    database, unlike SQL's lower() (ASCII only in SQLite)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


@functools.cache
def _confusables() -> Any:  # noqa: ANN401 (icu.SpoofChecker)
    """ICU's skeleton needs no settings, and a checker is safe to share once made.
    Loaded on first use: ICU is 7 MB of a worker's memory, and only setting a name
    (signup, a rename, the CLI) or a signup's look-alike search needs it."""
    import icu  # noqa: PLC0415

    return icu.SpoofChecker()


def skeleton(name: str) -> str:
    """The key shared by names that look alike (Unicode's UTS #39 skeleton, from ICU's
    confusables data): "p\u0430ul" (a Cyrillic \u0430) and "PAUL" have one, "rn" and "m"
    too. Taken of the canonical key, then folded and taken once more: the data maps some
    characters to capitals ("0" to "O"), and "G00GLE" must meet "google"."""
    confusables = _confusables()
    first = confusables.getSkeleton(0, canonical(name))
    return confusables.getSkeleton(0, canonical(first))


def email_key(email: str) -> str:
    """An address's canonical key: the canonical local part, and the domain in its
    IDNA (ASCII, "xn--") form, which is how mail servers and DNS spell it."""
    local, _, domain = email.rpartition("@")
    domain = canonical(domain)
    # Not a valid domain name: no account has it; the key stays comparable anyway.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{canonical(local)}@{domain}"
