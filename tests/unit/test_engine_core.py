"""The engine's synchronous core: records and a clock reading in, outputs out."""

from __future__ import annotations

import pytest

from betting import codec
from betting.config import Settings
from betting.domain.errors import InvariantViolation
from betting.domain.events import OpenRace, StartRace
from betting.domain.model import Bet
from betting.domain.money import Odds
from betting.engine.core import CoreSettings, EngineCore
from betting.engine.records import batch_records
from betting.log.port import Outgoing, Record
from tests.unit.races import RACE_ID, bet_at_current_price, open_book, race

T = Settings().topics
SETTINGS = CoreSettings(T.bets, T.races)
ASSIGNED = {(T.bets, 0), (T.races, 0)}


def inputs() -> list[Record]:
    values = [
        (T.races, codec.encode_command(race(runners=3), "req-create")),
        (T.races, codec.encode_command(OpenRace(RACE_ID, 10))),
    ]
    for n in range(30):
        bet = Bet(f"b{n}", f"u{n % 4}", RACE_ID, f"car-{n % 3}", 1_000, Odds.parse("1.01"), 1, 20)
        values.append((T.bets, codec.encode_bet(bet)))
    values.append((T.bets, b"not json at all"))
    offsets = {T.bets: 0, T.races: 0}
    records = []
    for topic, value in values:
        records.append(Record(topic, 0, offsets[topic], RACE_ID.encode(), value, 20))
        offsets[topic] += 1
    return records


def changelog(outputs: list[Outgoing]) -> list[Record]:
    kept = [out for out in outputs if out.topic == T.book_changelog]
    return [Record(out.topic, 0, n, out.key, out.value or b"", 0) for n, out in enumerate(kept)]


def test_the_same_records_at_the_same_clock_give_the_same_outputs_byte_for_byte() -> None:
    runs = [batch_records(EngineCore(SETTINGS).process(inputs(), ASSIGNED, 1_000), T) for _ in "ab"]
    assert runs[0] == runs[1]
    assert {out.topic for out in runs[0]} >= {T.bet_results, T.book_changelog, T.dead_letters}


def test_a_restore_from_the_committed_changelog_gives_the_same_state() -> None:
    engine = EngineCore(SETTINGS)
    outputs = batch_records(engine.process(inputs(), ASSIGNED, 1_000), T)
    restored = EngineCore(SETTINGS)
    restored.restore(0, changelog(outputs))
    book, again = engine.books[0][RACE_ID], restored.books[0][RACE_ID]
    assert again.outcomes == book.outcomes and again.stakes_minor == book.stakes_minor
    assert restored.positions == engine.positions == {0: {T.bets: 31, T.races: 2}}
    assert restored.decided == engine.decided
    # A second delivery of the same records is skipped: nothing decided twice.
    assert restored.process(inputs(), ASSIGNED, 2_000).answers == []


def test_a_book_whose_money_drifts_from_its_outcomes_stops_the_batch() -> None:
    engine = EngineCore(SETTINGS)
    engine.process(inputs(), ASSIGNED, 1_000)
    engine.books[0][RACE_ID].stakes_minor[0] += 1  # money no accepted bet brought
    with pytest.raises(InvariantViolation, match="runner car-0 holds"):
        bet = Bet("late", "u1", RACE_ID, "car-1", 1_000, Odds.parse("1.01"), 1, 20)
        value = codec.encode_bet(bet)
        engine.process([Record(T.bets, 0, 31, None, value, 20)], ASSIGNED, 1_100)


def test_apply_holds_an_in_play_bet_as_submit_does() -> None:
    book = open_book()
    book.apply(StartRace(RACE_ID, seed=1, at_ms=1_500))
    held = bet_at_current_price(book, "held", at_ms=2_000)
    assert book.apply(held) is None and [bet for _, bet in book.pending] == [held]
    assert ("user-1", "held") not in book.outcomes
