"""Checks of what an engine wrote to the real broker, shared by the engine and serve tests."""

from __future__ import annotations

from betting import codec
from betting.config import Settings
from betting.domain.book import Book
from betting.domain.events import CreateRace
from betting.log.kafka import KafkaLog
from betting.log.port import Record
from betting.tasks.engine import restore_books
from tests.integration.kafka_pipeline import read_topic, values


async def replay_matches(event_log: KafkaLog, settings: Settings) -> None:
    """Fresh books fed the logged commands and bets, in log order, decide every bet as the
    engine did, and hold the same money as the books restored from the changelog."""
    topics = settings.topics
    books: dict[str, Book] = {}
    for record in await read_topic(event_log, topics.races):
        command, _ = codec.decode_command(record.value)
        if isinstance(command, CreateRace):
            books.setdefault(command.race_id, Book(command))
        else:
            books[command.race_id].apply(command)
        books[command.race_id].publish_odds(command.at_ms)  # as the engine does
    replayed = {}
    for record in sorted(
        await read_topic(event_log, topics.bets), key=lambda r: (r.partition, r.offset)
    ):
        bet = codec.decode_bet(record.value)
        replayed[bet.bet_id] = books[bet.race_id].place(bet)
    logged = {v["bet_id"]: v for v in values(await read_topic(event_log, topics.bet_results))}
    for bet_id, outcome in replayed.items():
        assert logged[bet_id]["status"] == ("accepted" if outcome.accepted else "rejected"), (
            outcome.reason,
            outcome.detail,
        )
        assert logged[bet_id]["odds"] == (str(outcome.odds) if outcome.odds else None)
    restored: dict[str, Book] = {}
    for partition in range(3):
        restored.update(
            restore_books(await event_log.read_to_end(topics.book_changelog, partition))
        )
    for race_id, book in books.items():
        assert restored[race_id].stakes_minor == book.stakes_minor
        assert restored[race_id].payouts_minor == book.payouts_minor
        assert restored[race_id].pool_minor == book.pool_minor
        assert set(restored[race_id].outcomes) == set(book.outcomes)


def assert_odds_versions_increase(records: list[Record]) -> None:
    last: dict[str, int] = {}
    for value in values(records):
        race_id, version = str(value["race_id"]), int(value["version"])
        assert version > last.get(race_id, 0), f"{race_id}: version {version} after {last}"
        last[race_id] = version
