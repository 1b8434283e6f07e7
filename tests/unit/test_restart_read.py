"""After a restart, on the in-memory log: what the read model and the forwarders read first.

- The read model keeps odds read before their race's header, and counts itself caught up
  against the ends the log had when it started, however busy the log is since.
- A forwarder that never committed starts a replay window back, not at the log's end; one
  feeding a local edge reads every partition and rebuilds the edge's channel history.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time

import orjson
import pytest

from betting import codec
from betting.channels import odds_channel, user_channel
from betting.config import Settings
from betting.domain.model import Outcome
from betting.domain.money import Odds, payout_minor
from betting.domain.settlement import Settlement, SettlementResult
from betting.edge.local import LocalEdge
from betting.log.memory import MemoryLog
from betting.log.port import Outgoing, Record
from betting.tasks import routes
from betting.tasks import views as views_module
from betting.tasks.forward import REPLAY_WINDOW_MS, Forwarder
from betting.tasks.views import EARLY_ODDS_MAX, Views
from tests.unit.races import RACE_ID, bet_at_current_price, open_book

SETTINGS = Settings()
T = SETTINGS.topics


def _record(topic: str, key: bytes, value: bytes, offset: int = 0) -> Record:
    return Record(topic, 0, offset, key, value, int(time.time() * 1000))


def test_odds_read_before_the_race_header_are_kept_until_it_comes() -> None:
    book = open_book()
    views = Views(MemoryLog(), SETTINGS)
    odds = book.odds_snapshot(5)
    views.apply(_record(T.odds, RACE_ID.encode(), codec.encode_odds(odds)))
    views.apply(_record(T.book_changelog, RACE_ID.encode(), book.snapshot(with_outcomes=False)))
    runners = views.races[RACE_ID].public()["runners"]
    expected = {p.runner_id: str(p.odds) for p in odds.prices}
    assert {r["runner_id"]: r["odds"] for r in runners} == expected
    assert all(r["odds"] is not None for r in runners)


def _accepted_and_settled() -> tuple[list[Record], Record]:
    """A race's header, one accepted bet's outcome, and the bet's settlement (won)."""
    book = open_book()
    outcome = book.place(bet_at_current_price(book, "b1", stake_minor=2_000))
    assert outcome.accepted and outcome.odds is not None
    changelog = [
        _record(T.book_changelog, RACE_ID.encode(), book.snapshot(with_outcomes=False), 0),
        _record(T.book_changelog, codec.outcome_key(outcome), codec.encode_outcome(outcome), 1),
    ]
    payout = payout_minor(outcome.stake_minor, outcome.odds)
    won = Settlement("b1", "user-1", RACE_ID, "car-0", 2_000, SettlementResult.WON, payout)
    return changelog, _record(T.settlements, RACE_ID.encode(), codec.encode_settlement(won))


def test_a_compacted_changelog_with_the_header_after_its_outcomes_keeps_the_money() -> None:
    """Found by the simulator: compaction keeps a race's header at its newest offset, after
    the outcomes it heads, and the read model dropped every outcome read before it."""
    (header, outcome), _ = _accepted_and_settled()
    views = Views(MemoryLog(), SETTINGS)
    views.apply(outcome)
    views.apply(header)
    book = views.races[RACE_ID].book()
    assert book["runners"][0]["stake_minor"] == 2_000 and book["bets"]["accepted"] == 1
    assert views.bets[("user-1", "b1")]["status"] == "accepted"


def test_a_settlement_read_before_its_outcome_still_pays_the_bet() -> None:
    """Found by the simulator: topics are read in no order between them, and a settlement
    read before its bet's outcome was dropped, leaving the bet unpaid in every answer."""
    changelog, settlement = _accepted_and_settled()
    views = Views(MemoryLog(), SETTINGS)
    views.apply(settlement)
    for record in changelog:
        views.apply(record)
    assert views.bets[("user-1", "b1")]["status"] == "won"
    assert views.bets[("user-1", "b1")]["payout_minor"] == settlement_payout(settlement)


def settlement_payout(record: Record) -> int:
    return codec.decode_settlement(record.value).payout_minor


def test_odds_kept_for_races_without_a_header_are_bounded() -> None:
    book = open_book()
    views = Views(MemoryLog(), SETTINGS)
    value = orjson.loads(codec.encode_odds(book.odds_snapshot(5)))
    for n in range(EARLY_ODDS_MAX + 50):
        value["race_id"] = f"race-{n}"
        views.apply(_record(T.odds, f"race-{n}".encode(), orjson.dumps(value), n))
    assert len(views._early_prices) == EARLY_ODDS_MAX
    assert "race-0" not in views._early_prices  # the oldest go first
    assert f"race-{EARLY_ODDS_MAX + 49}" in views._early_prices


async def test_the_read_model_is_ready_under_steady_odds_once_it_holds_the_start() -> None:
    """Odds keep coming faster than a poll can come back empty: the read model must still
    count itself caught up once it has read what the log held when it started."""
    memory = MemoryLog(default_partitions=2)
    book = open_book()
    key = RACE_ID.encode()
    await memory.producer().send(
        [
            Outgoing(T.book_changelog, key, book.snapshot(with_outcomes=False)),
            Outgoing(T.odds, key, codec.encode_odds(book.odds_snapshot(5))),
        ]
    )
    stop = asyncio.Event()

    async def steady_odds() -> None:
        version = 6
        while not stop.is_set():
            odds = codec.encode_odds(book.odds_snapshot(version))
            await memory.producer().send([Outgoing(T.odds, key, odds)])
            version += 1
            await asyncio.sleep(0.002)  # pacing: a steady stream, not a flood

    writer = asyncio.create_task(steady_odds())
    await asyncio.sleep(0.05)  # pacing: the log is moving when the read model starts
    views = Views(memory, SETTINGS)
    reading = asyncio.create_task(views.run())
    try:
        async with asyncio.timeout(10):
            await views.ready.wait()
        assert all(r["odds"] for r in views.races[RACE_ID].public()["runners"])
    finally:
        stop.set()
        await writer
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading


def _outcome(bet_id: str, user_id: str) -> bytes:
    outcome = Outcome(bet_id, user_id, RACE_ID, "car-0", 100, True, Odds(250), None, "", 1, 2)
    return codec.encode_outcome(outcome)


async def _forward_past_markers(
    forwarder: Forwarder, memory: MemoryLog, edge: LocalEdge, markers: dict[str, Outgoing]
) -> None:
    """Run the forwarder until it has forwarded a marker record sent after the others, one per
    partition, each to a channel of its own: whatever it would wrongly send from before a
    marker in its partition has gone out by then."""
    running = asyncio.create_task(forwarder.run())
    try:
        async with asyncio.timeout(10):
            await forwarder.replayed.wait()
            await memory.producer().send(list(markers.values()))
            while not all(edge.hub.channels.peek(channel) for channel in markers):
                await asyncio.sleep(0.01)  # a poll interval
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def _channel_ids(edge: LocalEdge, channel: str) -> list[str]:
    found = edge.hub.channels.peek(channel)
    return [m.id for m in found.history_page(1_000, backwards=False)] if found else []


async def test_a_group_that_never_committed_forwards_what_came_before_it_started() -> None:
    """A crash before the group's first commit: the restarted forwarder must not start at
    the log's end, or every outcome in between is never heard."""
    memory = MemoryLog(default_partitions=1)
    await memory.producer().send(
        [Outgoing(T.bet_results, RACE_ID.encode(), _outcome(f"b{n}", "alice")) for n in range(5)]
    )
    # One outcome older than the replay window: not republished (past de-duplication).
    (partition,) = memory.partitions(T.bet_results)
    old = partition[0]
    partition[0] = Record(
        old.topic, 0, 0, old.key, old.value, old.timestamp_ms - 2 * REPLAY_WINDOW_MS
    )
    edge = LocalEdge()
    forwarder = Forwarder(
        "outcomes-out", memory, edge, T.bet_results, "never-committed", routes.outcome_route
    )
    marker = Outgoing(T.bet_results, RACE_ID.encode(), _outcome("marker", "marker-user"))
    await _forward_past_markers(forwarder, memory, edge, {user_channel("marker-user"): marker})
    ids = _channel_ids(edge, user_channel("alice"))
    assert ids == [f"{T.bet_results}:0:{n}:0" for n in range(1, 5)]


async def test_a_local_edge_forwarder_reads_every_partition_and_rebuilds_history() -> None:
    """A local edge serves only its own clients, so its forwarder reads every partition from
    the replay window on (nothing committed), in topic order per channel."""
    memory = MemoryLog(default_partitions=4)
    book = open_book()
    races = [f"race-{n}" for n in range(8)]
    sent = []
    for race_id in races:
        value = orjson.loads(codec.encode_odds(book.odds_snapshot(5)))
        for version in (5, 6):
            value["race_id"], value["version"] = race_id, version
            sent.append(Outgoing(T.odds, race_id.encode(), orjson.dumps(value)))
    await memory.producer().send(sent)
    assert all(memory.partitions(T.odds)), "the races should spread over every partition"
    edge = LocalEdge()
    forwarder = Forwarder("odds-out", memory, edge, T.odds, None, routes.odds_route)
    markers = {}
    for partition in range(4):
        value = orjson.loads(codec.encode_odds(book.odds_snapshot(5)))
        value["race_id"] = f"marker-{partition}"
        markers[odds_channel(value["race_id"])] = Outgoing(
            T.odds, b"marker", orjson.dumps(value), partition
        )
    await _forward_past_markers(forwarder, memory, edge, markers)
    for race_id in races:
        history = edge.hub.channels.peek(odds_channel(race_id))
        assert history is not None, race_id
        versions = [m.payload_bytes() for m in history.history_page(10, backwards=False)]
        assert [orjson.loads(v or b"{}")["version"] for v in versions] == [5, 6]


def test_outcomes_and_settlements_kept_for_later_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views_module, "EARLY_SETTLEMENTS_MAX", 10)
    monkeypatch.setattr(views_module, "EARLY_OUTCOME_RACES_MAX", 5)
    (_, outcome), settlement = _accepted_and_settled()
    views = Views(MemoryLog(), SETTINGS)
    won = codec.decode_settlement(settlement.value)
    lost = codec.decode_outcome(outcome.value)
    for n in range(30):
        views.apply(_record(T.settlements, b"k", codec.encode_settlement(
            dataclasses.replace(won, bet_id=f"b{n}")), n))  # fmt: skip
        early = lost._replace(race_id=f"race-{n}", bet_id=f"b{n}")
        views.apply(
            _record(T.book_changelog, codec.outcome_key(early), codec.encode_outcome(early), n)
        )
    assert len(views._early_settlements) == 10 and ("user-1", "b29") in views._early_settlements
    assert len(views._early_outcomes) == 5 and "race-29" in views._early_outcomes
