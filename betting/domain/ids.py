"""One rule for every id that comes from outside: users, bets, races, runners, requests.

An id is 1 to `ID_MAX` ASCII characters: a letter or digit, then letters, digits and
`_ . @ -`. That admits e-mail-like user names and UUIDs, and keeps out what would change a
channel name's meaning (`:` separates channel name parts, `*` is a capability wildcard),
whitespace, control characters and every non-ASCII look-alike. The whole text must match
(`fullmatch`): a trailing newline is not an id.
"""

from __future__ import annotations

import re

from betting.domain.errors import InvalidValue

ID_MAX = 128
ID_RULE = "1 to 128 ASCII letters, digits and _ . @ -, starting with a letter or digit"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}", re.ASCII)


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def parse_id(value: object, what: str = "id") -> str:
    """`value` itself when it is an id; otherwise `InvalidValue` naming `what`."""
    if not is_valid_id(value):
        raise InvalidValue(f"{what}: expected {ID_RULE}")
    return value  # type: ignore[return-value]
