"""Strict parsing of decimal integers written as text by someone outside.

Python's `int()` and `str.isdigit()` accept far more than a wire format should: Unicode
digits ("²", "①", Arabic-Indic digits), underscores, surrounding whitespace, and strings of
any length (whose conversion costs quadratic time, and beyond 4,300 digits raises). Here a
number is 1 to `digits_max` ASCII digits, optionally after a "-" when negatives are allowed,
and within [low, high]; anything else raises `InvalidValue` naming `what`.
"""

from __future__ import annotations

from betting.domain.errors import InvalidValue

DIGITS_MAX = 19  # enough for any signed 64-bit integer


def is_ascii_digits(text: str, digits_max: int = DIGITS_MAX) -> bool:
    return 0 < len(text) <= digits_max and text.isascii() and text.isdigit()


def parse_int(
    text: object,
    what: str,
    low: int = 0,
    high: int = 2**63 - 1,
    digits_max: int = DIGITS_MAX,
) -> int:
    if not isinstance(text, str):
        raise InvalidValue(f"{what}: expected a decimal integer, got {type(text).__name__}")
    digits = text[1:] if text.startswith("-") and low < 0 else text
    if not is_ascii_digits(digits, digits_max):
        raise InvalidValue(f"{what}: expected up to {digits_max} ASCII digits")
    value = int(text)
    if not low <= value <= high:
        raise InvalidValue(f"{what}: expected an integer in [{low}, {high}]")
    return value
