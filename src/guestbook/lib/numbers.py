"""Numbers from a client, parsed one strict way: ASCII digits only.

`str.isdigit()` passes superscripts (`²`) that `int()` refuses, and `int()` itself takes
spaces, underscores, a sign and the digits of every script (`٣`): each a way to a 500
or to two spellings of one number. A number a client sends is its ASCII digits and
nothing else, within the bound its column can hold.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,19}")


def whole_number(text: str | None, maximum: int) -> int | None:
    """The number `text` spells in ASCII digits if it is one from 0 to `maximum`;
    None for anything else (nothing, a sign, a space, another script, too large)."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= maximum else None
