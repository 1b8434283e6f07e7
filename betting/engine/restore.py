"""Restoring a partition from its changelog: records in, state out.

One code path for start-up, an assignment, and recovery after a commit failed. Every record
is decoded strictly (`codec.decode_changelog`), in any order a compacted log may hold them:
each race's newest header that restores, every outcome once, the newest good positions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from betting import codec
from betting.domain.book import Book
from betting.domain.errors import DomainError
from betting.domain.model import Outcome
from betting.log.port import Record

POSITIONS_KEY = codec.POSITIONS_KEY


@dataclass
class RestoredPartition:
    books: dict[str, Book]
    positions: dict[str, int]  # input topic -> next offset the state was written at
    decided: Counter[str]  # bets decided there since the log began, by outcome
    skipped: list[str]  # errors of changelog records left out


def restore_partition(
    records: Iterable[Record], inputs: set[str] | None = None
) -> RestoredPartition:
    """Rebuild a partition's books from its changelog (latest header plus every outcome),
    the input offsets that state was written at, and its counts of bets decided.

    Every record is decoded strictly; one that does not decode is skipped (and its error
    returned) as if it had never been written, so the race keeps its latest good header and
    the partition its latest good positions (which name only `inputs`, when given: the engine
    seeks them). Nothing in the changelog can stop a restore.
    """
    skipped: list[str] = []
    headers: dict[str, list[bytes]] = {}  # since the race's last tombstone, oldest first
    outcomes: dict[str, list[Outcome]] = {}
    positions: list[bytes] = []  # every positions record: only the newest good one counts
    for record in records:
        try:
            if record.key == POSITIONS_KEY:
                positions.append(record.value)
                continue
            entry = codec.decode_changelog(record.key, record.value)
            if isinstance(entry, codec.Tombstone):
                if entry.bet is None:
                    headers.pop(entry.race_id, None)  # the race is gone
            elif isinstance(entry, codec.HeaderEntry):
                headers.setdefault(entry.race_id, []).append(entry.value)
            elif isinstance(entry, codec.OutcomeEntry):
                outcomes.setdefault(entry.outcome.race_id, []).append(entry.outcome)
        except codec.CodecError as error:
            skipped.append(str(error))
    books = {}
    for race_id, candidates in headers.items():
        book = _restore_book(race_id, candidates, outcomes.get(race_id, []), skipped)
        if book is not None:
            books[race_id] = book
    latest = _latest_positions(positions, inputs, skipped)
    return RestoredPartition(books, dict(latest.offsets), Counter(latest.decided), skipped)


def _latest_positions(
    values: list[bytes], inputs: set[str] | None, skipped: list[str]
) -> codec.Positions:
    """The newest positions record that decodes (and names only `inputs`); the ones after it
    are skipped as if never written. One is written per batch: decoding only the newest
    keeps a restore's cost in the outcomes."""
    for value in reversed(values):
        try:
            positions = codec.decode_positions(value)
            if inputs is not None and not positions.offsets.keys() <= inputs:
                raise codec.CodecError("positions: of a topic the engine does not read")
            return positions
        except codec.CodecError as error:
            skipped.append(str(error))
    return codec.Positions({}, {})


def _restore_book(
    race_id: str, candidates: list[bytes], outcomes: list[Outcome], skipped: list[str]
) -> Book | None:
    """The book from the newest header that restores; a bad one is skipped like any record.
    Outcomes on runners the race does not have cannot be money on it, and are skipped."""
    for value in reversed(candidates):
        try:
            header = codec.decode_header(value)
            if header.race.race_id != race_id:
                raise codec.CodecError("header: its key names another race")
            runners = {runner.runner_id for runner in header.race.runners}
            kept = [o for o in outcomes if not o.accepted or o.runner_id in runners]
            skipped.extend("outcome: no such runner in its race" for _ in outcomes[len(kept) :])
            return Book.restore(value, kept)
        except (codec.CodecError, DomainError) as error:
            skipped.append(str(error))
    return None
