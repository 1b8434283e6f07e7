"""The one id rule and strict integers: any input gives the documented value or InvalidValue."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betting.domain.errors import InvalidValue
from betting.domain.ids import ID_MAX, is_valid_id, parse_id
from betting.domain.numbers import parse_int

ID_CHARS = st.sampled_from("abcXYZ019_.@-")


@given(st.text(max_size=200))
def test_any_text_is_an_id_or_refused(text: str) -> None:
    expected = (
        0 < len(text) <= ID_MAX
        and all(c.isascii() and (c.isalnum() or c in "_.@-") for c in text)
        and text[0].isascii()
        and text[0].isalnum()
    )
    assert is_valid_id(text) is expected
    if expected:
        assert parse_id(text) == text
    else:
        with pytest.raises(InvalidValue):
            parse_id(text, "user_id")


@given(st.text(ID_CHARS, min_size=1, max_size=ID_MAX - 1))
def test_ids_from_the_alphabet_are_accepted_after_a_letter(rest: str) -> None:
    assert parse_id("a" + rest) == "a" + rest


@pytest.mark.parametrize(
    "bad", ["", "alice\n", " alice", "al ice", "a:b", "a*", "ａlice", "-alice", "x" * 129, "é"]
)
def test_refused_ids(bad: str) -> None:
    assert not is_valid_id(bad)


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.floats(), st.binary()))
def test_parse_int_gives_the_value_or_invalid_value(value: object) -> None:
    is_number = isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value, re.ASCII)
    try:
        result = parse_int(value, "n", low=-(10**6), high=2**63 - 1)
    except InvalidValue:
        assert not is_number or not -(10**6) <= int(str(value)) <= 2**63 - 1
    else:
        assert is_number and result == int(str(value))


@pytest.mark.parametrize("bad", ["²", "①", "1²", "٣", "1_000", " 1", "1 ", "+1", "9" * 5000, "-1"])
def test_parse_int_refuses_look_alikes_and_long_strings(bad: str) -> None:
    with pytest.raises(InvalidValue):
        parse_int(bad, "n")
