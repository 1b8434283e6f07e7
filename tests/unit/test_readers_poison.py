"""Poison on the topics the read side consumes: skipped, counted, and nothing else changes.

The read model reads `book-changelog`, `odds`, `settlements` and `users`; the forwarders
`odds`, `bet-results` and `settlements`. Each malformed class of `tests.unit.poison` is sent
on each, between good records: every good record is still taken, every bad one is counted
under its topic, and a route refuses a bad one with `CodecError` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import pytest

from betting import codec
from betting.api.metrics import MetricSources, render
from betting.config import Settings
from betting.domain.model import Outcome
from betting.domain.money import Odds
from betting.domain.settlement import Settlement, SettlementResult
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing, Record
from betting.tasks import routes
from betting.tasks.forward import Forwarder
from betting.tasks.skipped import Skipped
from betting.tasks.views import Views
from tests.unit import poison
from tests.unit.races import RACE_ID, open_book

SETTINGS = Settings()
T = SETTINGS.topics
OUTCOME = Outcome("b1", "alice", RACE_ID, "car-0", 1_000, True, Odds(250), None, "", 1, 2)
SETTLEMENT = Settlement("b1", "alice", RACE_ID, "car-0", 1_000, SettlementResult.WON, 2_500)


def good_records() -> list[Outgoing]:
    book = open_book()
    key = RACE_ID.encode()
    return [
        Outgoing(T.book_changelog, key, book.snapshot(with_outcomes=False), 0),
        Outgoing(
            T.book_changelog, f"{RACE_ID}/alice/b1".encode(), codec.encode_outcome(OUTCOME), 0
        ),
        Outgoing(T.odds, key, codec.encode_odds(book.odds_snapshot(5)), 0),
        Outgoing(T.settlements, key, codec.encode_settlement(SETTLEMENT), 0),
        Outgoing(T.users, b"alice", codec.encode_preference(True), 0),
    ]


def poison_for_views() -> dict[str, list[poison.Poison]]:
    return {
        T.book_changelog: poison.changelog(RACE_ID),
        T.odds: poison.odds(RACE_ID),
        T.settlements: poison.settlements(RACE_ID),
        T.users: poison.users(),
        T.command_results: poison.command_results(RACE_ID),
    }


async def test_the_read_model_skips_and_counts_poison_and_takes_every_good_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = MemoryLog(default_partitions=1)
    sent = [
        Outgoing(topic, key, value, 0)
        for topic, catalogue in poison_for_views().items()
        for _, key, value, _ in catalogue
    ]
    good = good_records()
    # Good records first and last: the poison in between must not undo or block them.
    await memory.producer().send([*good[:1], *sent, *good[1:]])
    views = Views(memory, SETTINGS)
    task = asyncio.create_task(views.run())
    try:
        with caplog.at_level(logging.INFO):
            async with asyncio.timeout(10):
                await views.ready.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    race = views.races[RACE_ID]
    assert race.state == "open" and race.prices
    bet = views.bet("alice", "b1")
    assert bet is not None and (bet["status"], bet["payout_minor"]) == ("won", 2_500)
    assert views.notifications == {"alice": True}
    expected = {topic: len(catalogue) for topic, catalogue in poison_for_views().items()}
    # The views read positions records for the counts only: one naming a topic the engine
    # does not consume is well formed to them (the engine's restore skips it).
    readable = [
        value
        for _, key, value, _ in poison.changelog(RACE_ID)
        if key == codec.POSITIONS_KEY and _decodes(codec.decode_positions, value)
    ]
    expected[T.book_changelog] -= len(readable)
    assert dict(views.skipped.counts) == expected
    warnings = [r for r in caplog.records if r.name == "betting.skipped"]
    assert len(warnings) == len(expected)  # one line per topic, not one per record
    assert not any(r.exc_info for r in caplog.records)


ROUTED = {
    T.odds: (routes.odds_route, poison.odds(RACE_ID)),
    T.bet_results: (routes.outcome_route, poison.outcomes(RACE_ID)),
    T.settlements: (routes.settlement_route, poison.settlements(RACE_ID)),
}


@pytest.mark.parametrize("topic", sorted(ROUTED))
def test_a_forwarder_skips_each_poison_class_and_forwards_good_records(topic: str) -> None:
    route, catalogue = ROUTED[topic]
    forwarder = Forwarder(topic, MemoryLog(), None, topic, "group", route)  # type: ignore[arg-type]
    for offset, (label, key, value, _) in enumerate(catalogue):
        with pytest.raises(codec.CodecError):
            route(value)
        record = Record(topic, 0, offset, key, value, 0)
        assert forwarder._messages(record) == [], label
    assert forwarder.skipped.counts == {topic: len(catalogue)}
    good = {o.topic: o.value for o in good_records() if o.topic != T.book_changelog}
    good_value = codec.encode_outcome(OUTCOME) if topic == T.bet_results else good[topic]
    messages = forwarder._messages(Record(topic, 0, 99, b"k", good_value or b"", 0))
    assert messages and all(channel.startswith("outbound:") for channel, _ in messages)


def test_routes_send_the_canonical_record_to_channels_named_by_ids() -> None:
    assert routes.outcome_route(codec.encode_outcome(OUTCOME)) == [
        ("outbound:user:alice", "outcome", codec.outcome_to_dict(OUTCOME))
    ]
    won = routes.settlement_route(codec.encode_settlement(SETTLEMENT))
    assert [name for _, name, _ in won] == ["settlement", "notice"]
    assert won[1][2]["text"] == f"You won 25.00 on car-0 in {RACE_ID}"


def test_skipped_records_are_said_once_a_minute_per_topic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now_s = [0.0]
    skipped = Skipped("views", clock_s=lambda: now_s[0])
    with caplog.at_level(logging.INFO, logger="betting.skipped"):
        for second in range(150):  # a bad record a second on two topics, for 150 s
            now_s[0] = float(second)
            skipped.skip("odds", "odds.version: expected an integer")
            skipped.skip("users", "x" * 10_000)
    assert skipped.counts == {"odds": 150, "users": 150}
    said = [
        (r.fields["reader"], r.fields["topic"], r.fields["skipped"])  # type: ignore[attr-defined]
        for r in caplog.records
    ]
    assert said == [
        ("views", "odds", 1), ("views", "users", 1), ("views", "odds", 61),
        ("views", "users", 61), ("views", "odds", 121), ("views", "users", 121),
    ]  # fmt: skip
    assert all(len(r.fields["error"]) <= 200 for r in caplog.records)  # type: ignore[attr-defined]
    assert not any(r.exc_info for r in caplog.records)


async def test_metrics_count_skipped_records_per_reader_and_topic() -> None:
    views, forwarder = Skipped("views"), Skipped("odds-out")
    for reader, times in ((views, 2), (forwarder, 1)):
        for _ in range(times):
            reader.skip("odds", "bad")
    lines = await render(MetricSources(skipped=[views, forwarder]))
    assert lines == [
        "# HELP betting_records_skipped_total Records a reader could not decode.",
        "# TYPE betting_records_skipped_total counter",
        'betting_records_skipped_total{reader="views",topic="odds"} 2',
        'betting_records_skipped_total{reader="odds-out",topic="odds"} 1',
    ]


def _decodes(decode: Callable[[bytes], object], value: bytes) -> bool:
    try:
        decode(value)
    except codec.CodecError:
        return False
    return True
