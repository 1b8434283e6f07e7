"""Odds snapshots of one race as odds-out publishes them, for the VCDIFF tests in Python and
in node."""

from __future__ import annotations

import json
import random

RUNNER_NAMES = [
    "Thunder Road",
    "Silver Comet",
    "Midnight Express",
    "Lucky Clover",
    "Golden Arrow",
    "Storm Chaser",
    "Desert Rose",
    "Iron Duke",
    "Blue Horizon",
    "Copper Kettle",
    "Northern Star",
    "Velvet Rain",
    "Quick Silver",
    "Highland Fling",
    "Morning Glory",
    "Red Baron",
    "Shadow Dancer",
    "Sea Breeze",
    "Wild Card",
    "Final Whistle",
]


def new_prices(rng: random.Random) -> dict[str, object]:
    back = rng.uniform(1.2, 60.0)
    return {
        "back": f"{back:.2f}",
        "lay": f"{back * 1.03:.2f}",
        "liability_minor": rng.randrange(1_000_000),
    }


def odds_book(sequence: int, runners: list[dict[str, object]], indent: int | None = None) -> bytes:
    """An odds snapshot as odds-out publishes it: about 3 KB of JSON for 20 runners."""
    book = {
        "race_id": "2025-06-01-ASC-R3",
        "sequence": sequence,
        "status": "open",
        "published_at_ms": 1_748_786_400_000 + sequence * 250,
        "market": "win",
        "overround_bp": 11_850,
        "runners": runners,
    }
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(book, separators=separators, indent=indent).encode()


def first_runners(rng: random.Random, count: int = 20) -> list[dict[str, object]]:
    return [
        {
            "runner_id": f"r{number:02d}",
            "number": number,
            "name": RUNNER_NAMES[(number - 1) % len(RUNNER_NAMES)],
            "status": "active",
            **new_prices(rng),
        }
        for number in range(1, count + 1)
    ]


def reprice(
    rng: random.Random, runners: list[dict[str, object]], changes: int
) -> list[dict[str, object]]:
    repriced = [dict(runner) for runner in runners]
    for index in rng.sample(range(len(repriced)), changes):
        repriced[index].update(new_prices(rng))
    return repriced


def odds_books(seed: int, count: int, changes: int, indent: int | None = None) -> list[bytes]:
    """Successive snapshots of one race, `changes` runners repriced between two of them."""
    rng = random.Random(seed)
    runners = first_runners(rng)
    books = [odds_book(0, runners, indent)]
    for sequence in range(1, count):
        runners = reprice(rng, runners, changes)
        books.append(odds_book(sequence, runners, indent))
    return books
