"""The records a batch writes, for one transaction: a `BatchResult` encoded by the codec."""

from __future__ import annotations

from betting import codec, command_results
from betting.config import TopicSettings
from betting.engine.core import BatchResult
from betting.log.port import Outgoing


def batch_records(result: BatchResult, topics: TopicSettings) -> list[Outgoing]:
    """A batch's records, for one transaction. Within the changelog of a partition: the new
    decisions in the order they were made, then the headers, then the positions last."""
    out: list[Outgoing] = []
    append = out.append
    for answer in result.answers:
        outcome = answer.outcome
        value = codec.encode_outcome(outcome)  # one encoding for both topics
        key = outcome.race_id.encode()
        append(Outgoing(topics.bet_results, key, value, answer.partition))
        if answer.logged:
            changelog_key = codec.outcome_key(outcome)
            append(Outgoing(topics.book_changelog, changelog_key, value, answer.partition))
    for number, snapshot in result.odds:
        key = snapshot.race_id.encode()
        append(Outgoing(topics.odds, key, codec.encode_odds(snapshot), number))
    for command in result.command_results:
        value = command_results.encode(command.result)
        append(Outgoing(topics.command_results, command.key, value, command.partition))
    for letter in result.dead_letters:
        record = letter.record
        value = codec.encode_dead_letter(
            record.topic, record.partition, record.offset, record.key, record.value, letter.error
        )
        key = (record.key or b"")[: codec.DEAD_LETTER_KEY_MAX]  # the letter must fit too
        append(Outgoing(topics.dead_letters, key, value, letter.partition))
    for number, settlement in result.settlements:
        key = settlement.race_id.encode()
        append(Outgoing(topics.settlements, key, codec.encode_settlement(settlement), number))
    for number, header in result.headers:
        key, value = codec.encode_changelog(header)
        append(Outgoing(topics.book_changelog, key, value, number))
    for number, positions in result.positions:
        key, value = codec.encode_changelog(positions)
        append(Outgoing(topics.book_changelog, key, value, number))
    return out
