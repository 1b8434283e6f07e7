"""Every parser of the record contract: any input gives the documented value or `CodecError`.

For each field of each record, any JSON value in its place either decodes to exactly what the
field's rule documents or raises the codec's own error (never a TypeError, a KeyError, a
RecursionError...); any bytes at all as a whole record do the same; and every record decodes
back to what was encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from betting import codec
from betting.config import Settings
from betting.domain import serial
from betting.domain.book import Book
from betting.domain.errors import InvalidValue
from betting.domain.events import (
    CloseRace,
    CreateRace,
    OpenRace,
    ResultRace,
    ResumeRace,
    SettleRace,
    StartRace,
    SuspendRace,
    UpdateStrengths,
    VoidRace,
    WithdrawRunner,
)
from betting.domain.ids import is_valid_id
from betting.domain.model import (
    Bet,
    FavourablePolicy,
    OddsSnapshot,
    Outcome,
    RaceState,
    RejectReason,
    Runner,
    RunnerPrice,
)
from betting.domain.money import LADDER, Odds
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams
from betting.domain.settlement import Settlement, SettlementResult
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.tasks.engine import Engine
from tests.unit.races import RACE_ID, bet_at_current_price, open_book

TRICKY_TEXT = [
    "²", "①", "1²", "٣", "٣.٥", "１", "9" * 5_000, "1" * 20, "2.5", "2.50", "1.01", "1000",
    "1000.00", "1001", "2.", ".5", "2.5 ", " 2.5", "+2", "-2", "1_0", "0x10", "1e3", "",
    "user-1", "car-0", "a:b", "*", "a\n", "\x00", "\u202e", "é", "x" * 129, "x" * 128, "#x",
]  # fmt: skip
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(TRICKY_TEXT)
    | st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, serial.TIME_MS_MAX, serial.TIME_MS_MAX + 1])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,20}", fullmatch=True)
NAMES = st.text(min_size=1, max_size=30).filter(str.isprintable)
TIMES = st.integers(min_value=0, max_value=serial.TIME_MS_MAX)
COUNTS = st.integers(min_value=0, max_value=2**63 - 1)
STAKES = st.integers(min_value=0, max_value=serial.STAKE_MINOR_MAX)
ODDS = st.sampled_from(LADDER).map(Odds)
ODDS_TEXT = re.compile(r"[0-9]{1,4}(\.[0-9]{1,2})?")


def dumps(value: Any) -> bytes:
    """The standard library writes what orjson refuses to (integers past 64 bits, NaN)."""
    return json.dumps(value).encode()


def decodes_or_codec_error(decode: Any, value: bytes) -> Any:
    try:
        return decode(value)
    except codec.CodecError as error:
        assert len(str(error)) <= codec.ERROR_MAX and str(error).isprintable()
        return error


# -- odds, money, ids, times: the field rules ------------------------------------------------


def documented_odds(value: object) -> int | None:
    """Hundredths, or None where the rule refuses the value."""
    if not isinstance(value, str) or not ODDS_TEXT.fullmatch(value):
        return None
    whole, _, fraction = value.partition(".")
    hundredths = int(whole) * 100 + int(fraction.ljust(2, "0") or "0")
    return hundredths if hundredths in LADDER else None


def documented_odds_seen(value: object) -> Odds | None:
    hundredths = documented_odds(value)
    return None if hundredths is None else Odds(hundredths)


@given(st.one_of(JSON_VALUES, st.text(max_size=12), st.from_regex(r"[0-9]{1,5}(\.[0-9]{0,3})?")))
def test_odds_parse_gives_the_ladder_price_or_refuses(value: object) -> None:
    expected = documented_odds(value)
    try:
        assert Odds.parse(value).hundredths == expected  # type: ignore[arg-type]
    except InvalidValue:
        assert expected is None
    result = decodes_or_codec_error(lambda v: codec.parse_odds(v), value)  # type: ignore[arg-type]
    assert (result.hundredths if isinstance(result, Odds) else None) == expected


@given(ODDS)
def test_odds_round_trip_through_their_text(odds: Odds) -> None:
    assert Odds.parse(str(odds)) == odds


def integer_rule(low: int, high: int) -> Any:
    return lambda value: value if type(value) is int and low <= value <= high else None


def id_rule(value: object) -> object:
    return value if is_valid_id(value) else None


def time_rule(value: object) -> object:
    return integer_rule(0, serial.TIME_MS_MAX)(value)


GOOD_BET = {
    "v": 1, "bet_id": "b-1", "user_id": "alice", "race_id": "race-1", "runner_id": "car-0",
    "stake_minor": 1_000, "odds": "2.50", "odds_version": 3, "received_at_ms": 1_700_000_000_000,
    "client_sent_at_ms": None,
}  # fmt: skip
BET_RULES: dict[str, tuple[str, Any]] = {
    "bet_id": ("bet_id", id_rule),
    "user_id": ("user_id", id_rule),
    "race_id": ("race_id", id_rule),
    "runner_id": ("runner_id", id_rule),
    "stake_minor": ("stake_minor", integer_rule(0, serial.STAKE_MINOR_MAX)),
    "odds": ("odds_seen", documented_odds_seen),
    "odds_version": ("odds_version", integer_rule(0, 2**63 - 1)),
    "received_at_ms": ("received_at_ms", time_rule),
    "client_sent_at_ms": ("client_sent_at_ms", lambda v: "null" if v is None else time_rule(v)),
}


@given(st.sampled_from(sorted(BET_RULES)), JSON_VALUES)
def test_each_bet_field_gives_its_documented_value_or_codec_error(name: str, value: Any) -> None:
    attribute, rule = BET_RULES[name]
    expected = rule(value)
    result = decodes_or_codec_error(codec.decode_bet, dumps({**GOOD_BET, name: value}))
    if expected is None:
        assert isinstance(result, codec.CodecError), result
        assert f"bet.{name}" in str(result)
        # The identity it keeps is an id or nothing: an INVALID outcome names only ids.
        source = {**GOOD_BET, name: value}
        for part in ("bet_id", "user_id", "race_id"):
            assert getattr(result, part) == (source[part] if is_valid_id(source[part]) else "")
    else:
        assert isinstance(result, Bet), result
        assert getattr(result, attribute) == (None if expected == "null" else expected)


@given(st.sampled_from(sorted(BET_RULES)))
def test_a_missing_bet_field_is_a_codec_error_unless_optional(name: str) -> None:
    result = decodes_or_codec_error(
        codec.decode_bet, dumps({k: v for k, v in GOOD_BET.items() if k != name})
    )
    assert isinstance(result, Bet) == (name == "client_sent_at_ms")


# -- any bytes, any object ---------------------------------------------------------------------

DECODERS = [
    codec.decode_bet,
    codec.decode_command,
    codec.decode_outcome,
    codec.decode_odds,
    codec.decode_settlement,
    codec.decode_positions,
    codec.decode_header,
    codec.decode_preference,
    lambda value: codec.decode_changelog_key(value),
    lambda value: codec.decode_key_id(value, "key"),
]
FIELD_NAMES = sorted(
    {*GOOD_BET, "type", "at_ms", "request_id", "race", "placings", "reason", "seed", "length_mm",
     "strengths", "status", "detail", "decided_at_ms", "version", "state", "prices", "result",
     "payout_minor", "positions", "notifications", "schema"}
)  # fmt: skip


@given(st.sampled_from(range(len(DECODERS))), st.binary(max_size=200))
def test_any_bytes_decode_or_raise_codec_error(which: int, value: bytes) -> None:
    decodes_or_codec_error(DECODERS[which], value)


@given(
    st.sampled_from(range(len(DECODERS))),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=5), JSON_VALUES, max_size=8),
    st.sampled_from(["v", "schema"]),
)
def test_any_object_of_this_schema_decodes_or_raises_codec_error(
    which: int, fields: dict[str, Any], version_key: str
) -> None:
    decodes_or_codec_error(DECODERS[which], dumps({**fields, version_key: 1}))


@given(st.sampled_from(range(len(DECODERS))), st.sampled_from([None, "text", 5, b"x" * 2_000_000]))
def test_what_is_not_a_small_value_is_a_codec_error(which: int, value: Any) -> None:
    assert isinstance(decodes_or_codec_error(DECODERS[which], value), codec.CodecError)


def test_deep_nesting_and_huge_numbers_are_codec_errors() -> None:
    for value in [b"[" * 100_000, b'{"v": 1, "stake_minor": 1' + b"0" * 5_000 + b"}"]:
        for decode in DECODERS[:8]:
            assert isinstance(decodes_or_codec_error(decode, value), codec.CodecError)


# -- race commands -----------------------------------------------------------------------------

RUNNER_IDS = st.lists(IDS, min_size=1, max_size=6, unique=True)


@st.composite
def races(draw: st.DrawFn) -> CreateRace:
    runner_ids = draw(RUNNER_IDS)
    ratings = st.none() | st.integers(min_value=1, max_value=serial.STRENGTH_MAX)
    return CreateRace(
        draw(IDS),
        draw(NAMES),
        tuple(Runner(r, draw(NAMES), draw(ratings)) for r in runner_ids),
        draw(TIMES),
        draw(TIMES),
        PricingParams(margin_bp=draw(st.integers(0, 5_000))),
        RiskParams(
            late_window_ms=draw(st.integers(0, 10**9)),
            favourable_policy=draw(st.sampled_from(FavourablePolicy)),
        ),
    )


@st.composite
def commands(draw: st.DrawFn) -> Any:
    race_id, at_ms = draw(IDS), draw(TIMES)
    simple = st.sampled_from([OpenRace, SuspendRace, ResumeRace, CloseRace, SettleRace])
    return draw(
        st.one_of(
            races(),
            simple.map(lambda kind: kind(race_id, at_ms)),
            RUNNER_IDS.map(lambda ids: ResultRace(race_id, tuple(ids), at_ms)),
            NAMES.map(lambda reason: VoidRace(race_id, reason, at_ms)),
            IDS.map(lambda runner: WithdrawRunner(race_id, runner, at_ms)),
            st.lists(st.tuples(IDS, st.integers(1, serial.STRENGTH_MAX)), max_size=5).map(
                lambda pairs: UpdateStrengths(race_id, tuple(pairs), at_ms)
            ),
            st.tuples(COUNTS, st.integers(codec.LENGTH_MM_MIN, serial.LENGTH_MM_MAX)).map(
                lambda seed_length: StartRace(race_id, seed_length[0], at_ms, seed_length[1])
            ),
        )
    )


@given(commands(), st.none() | IDS)
def test_commands_round_trip(command: Any, request_id: str | None) -> None:
    assert codec.decode_command(codec.encode_command(command, request_id or "")) == (
        command,
        request_id or "",
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, for putting something else there."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@given(commands(), st.data(), JSON_VALUES)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_value_anywhere_in_a_command_decodes_or_raises_codec_error(
    command: Any, data: st.DataObject, new: Any
) -> None:
    body = orjson.loads(codec.encode_command(command, "req-1"))
    path = data.draw(st.sampled_from(paths(body)))
    result = decodes_or_codec_error(codec.decode_command, dumps(replaced(body, path, new)))
    if not isinstance(result, codec.CodecError):
        decoded, request_id = result
        # What decodes is a well-formed command again: it encodes and decodes to itself.
        assert codec.decode_command(codec.encode_command(decoded, request_id)) == result


# -- outcomes, odds, settlements, positions, preferences -----------------------------------------


@st.composite
def outcomes(draw: st.DrawFn) -> Outcome:
    accepted = draw(st.booleans())
    reason = None if accepted else draw(st.sampled_from(RejectReason))
    invalid = reason is RejectReason.INVALID
    blank_or_id = st.just("") | IDS if invalid else IDS
    return Outcome(
        draw(IDS), draw(IDS), draw(blank_or_id), draw(blank_or_id), draw(STAKES), accepted,
        draw(ODDS) if accepted else draw(st.none() | ODDS), reason,
        draw(st.just("") | NAMES), draw(COUNTS), draw(TIMES),
    )  # fmt: skip


@given(outcomes())
def test_outcomes_round_trip(outcome: Outcome) -> None:
    assert codec.decode_outcome(codec.encode_outcome(outcome)) == outcome


@given(
    st.builds(
        OddsSnapshot,
        IDS,
        COUNTS,
        st.sampled_from(RaceState),
        st.lists(st.builds(RunnerPrice, IDS, st.none() | ODDS), max_size=8).map(tuple),
        TIMES,
    )
)
def test_odds_snapshots_round_trip(snapshot: OddsSnapshot) -> None:
    assert codec.decode_odds(codec.encode_odds(snapshot)) == snapshot


@given(
    st.builds(
        Settlement,
        IDS,
        IDS,
        IDS,
        IDS,
        STAKES,
        st.sampled_from(SettlementResult),
        st.integers(0, codec.PAYOUT_MINOR_MAX),
    )
)
def test_settlements_round_trip(settlement: Settlement) -> None:
    assert codec.decode_settlement(codec.encode_settlement(settlement)) == settlement


@given(st.builds(Bet, IDS, IDS, IDS, IDS, STAKES, ODDS, COUNTS, TIMES, st.none() | TIMES))
def test_bets_round_trip(bet: Bet) -> None:
    assert codec.decode_bet(codec.encode_bet(bet)) == bet


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9._-]{1,30}", fullmatch=True), COUNTS, max_size=codec.POSITIONS_MAX
    ),
    st.dictionaries(st.sampled_from(sorted(codec.OUTCOME_NAMES)), COUNTS),
    st.booleans(),
)
def test_positions_and_preferences_round_trip(
    positions: dict[str, int], decided: dict[str, int], enabled: bool
) -> None:
    decoded = codec.decode_positions(codec.encode_positions(positions, decided))
    assert decoded == codec.Positions(positions, decided)
    assert codec.decode_preference(codec.encode_preference(enabled)) is enabled


@pytest.mark.parametrize(
    "decode", [codec.decode_outcome, codec.decode_odds, codec.decode_settlement]
)
@given(data=st.data(), new=JSON_VALUES)
def test_any_value_anywhere_in_engine_records_decodes_or_raises_codec_error(
    decode: Any, data: st.DataObject, new: Any
) -> None:
    samples = {
        codec.decode_outcome: codec.encode_outcome(
            Outcome("b", "u", "r", "car-0", 100, True, Odds(250), None, "", 1, 2)
        ),
        codec.decode_odds: codec.encode_odds(
            OddsSnapshot("r", 1, RaceState.OPEN, (RunnerPrice("car-0", Odds(250)),), 2)
        ),
        codec.decode_settlement: codec.encode_settlement(
            Settlement("b", "u", "r", "car-0", 100, SettlementResult.WON, 250)
        ),
    }
    body = orjson.loads(samples[decode])
    path = data.draw(st.sampled_from(paths(body)))
    result = decodes_or_codec_error(decode, dumps(replaced(body, path, new)))
    if not isinstance(result, codec.CodecError):
        encoders: dict[object, Callable[[Any], bytes]] = {
            codec.decode_outcome: codec.encode_outcome,
            codec.decode_odds: codec.encode_odds,
            codec.decode_settlement: codec.encode_settlement,
        }
        assert decode(encoders[decode](result)) == result


# -- book headers (the changelog) ---------------------------------------------------------------


def sample_headers() -> list[bytes]:
    """Snapshots of books open with bets, in play with a bet held, and resulted."""
    book = open_book(risk=RiskParams(late_window_ms=10**9))
    book.apply(bet_at_current_price(book, "b1"))
    book.publish_odds(3_000)
    in_play = Book.restore(book.snapshot())
    in_play.apply(StartRace(RACE_ID, 7, 4_000))
    in_play.submit(bet_at_current_price(in_play, "b2", runner=1, at_ms=4_500))
    resulted = Book.restore(book.snapshot())
    resulted.apply(CloseRace(RACE_ID, 5_000))
    resulted.apply(ResultRace(RACE_ID, ("car-0", "car-1"), 5_000))
    return [b.snapshot() for b in (book, in_play, resulted)]


HEADERS = sample_headers()


def test_a_header_decoder_that_saw_a_race_still_refuses_true_for_1() -> None:
    body = orjson.loads(HEADERS[0])
    body["race"]["runners"][0]["rating"] = 1
    primed = codec.HeaderDecoder()
    primed.decode(orjson.dumps(body))
    body["race"]["runners"][0]["rating"] = True  # == 1 in Python
    with pytest.raises(codec.CodecError, match="rating"):
        primed.decode(orjson.dumps(body))


@given(st.data(), JSON_VALUES)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_value_anywhere_in_a_book_header_restores_or_is_refused(
    data: st.DataObject, new: Any
) -> None:
    body = orjson.loads(data.draw(st.sampled_from(HEADERS)))
    path = data.draw(st.sampled_from(paths(body)))
    value = dumps(replaced(body, path, new))
    header = decodes_or_codec_error(codec.decode_header, value)
    # A reader that saw the race's good header before judges it the same (true is not 1).
    primed = codec.HeaderDecoder()
    for good in HEADERS:
        primed.decode(good)
    again = decodes_or_codec_error(primed.decode, value)
    assert isinstance(again, codec.CodecError) == isinstance(header, codec.CodecError)
    try:
        book = Book.restore(value)
    except InvalidValue:
        return
    assert not isinstance(header, codec.CodecError)
    assert Book.restore(book.snapshot()).snapshot() == book.snapshot()
    # A restored book works: a batch of the engine prices, runs, settles and logs it.
    engine = Engine(MemoryLog(), Settings(), Readiness(), clock_ms=lambda: book.latest_ms + 1)
    engine.books = {0: {book.race.race_id: book}}
    engine._process([], set())
