"""The page's pure modules (money, odds formats, CRC-32 shard choice) under Node, checked
against Python."""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from fractions import Fraction
from pathlib import Path

import pytest

pytestmark = pytest.mark.node

HERE = Path(__file__).resolve().parent
WEB = HERE.parents[1] / "web"


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = subprocess.run(
        [node, str(HERE / "units.mjs"), str(WEB)], capture_output=True, check=True, timeout=30
    )
    answer: dict[str, object] = json.loads(out.stdout)
    return answer


def test_crc32_and_shard_match_zlib(results: dict[str, object]) -> None:
    crc = results["crc32"]
    assert isinstance(crc, dict)
    assert crc == {text: zlib.crc32(text.encode()) for text in crc}
    assert results["shard"] == zlib.crc32(b"alice") % 4


def test_money_is_minor_units_without_floats(results: dict[str, object]) -> None:
    assert results["formatMinor"] == ["0.00", "0.05", "12.34", "1,000.00", "-2.50"]
    assert results["parseStakeMinor"] == [1000, 1050, 1055, 1, 1234, 700, None, None, None, None]
    assert results["oddsHundredths"] == [250, 101, 100000, None, None]
    assert results["fractional"] == ["3/2", "Evens", "1/100", "233/100", "10/1"]
    assert results["returnMinor"] == [2500, 336]
    assert results["priceMove"] == [1, -1, 0]


def test_fractions_are_the_bookmakers_at_or_below_the_price(results: dict[str, object]) -> None:
    assert results["bookmakerFraction"] == [
        "11/4", "5/2", "5/2", "Evens", "1/100", "", "11/8", "1/3", "1/3", "999/1", "", "",
    ]  # fmt: skip
    assert results["formatOdds"] == ["13/8", "2.62", "–"]


def test_every_price_maps_to_a_short_fraction_that_never_reads_longer(
    results: dict[str, object],
) -> None:
    ladder = results["fractionLadder"]
    assert isinstance(ladder, dict) and len(ladder) == 99_900
    previous = Fraction(0)
    for price, shown in ladder.items():
        profit = Fraction(price) - 1
        value = Fraction(1) if shown == "Evens" else Fraction(shown)
        # never longer than the price, written to the hundredth (1/3 reads 1.33)
        assert int(value * 100) <= profit * 100, (price, shown)
        assert value >= previous, (price, shown)  # a longer price never reads shorter
        numerator, _, denominator = (shown if shown != "Evens" else "1/1").partition("/")
        assert int(denominator) <= 100 and int(numerator) < 1000, (price, shown)
        previous = value


def test_race_status_says_in_play_and_never_scheduled_past_the_start(
    results: dict[str, object],
) -> None:
    assert results["raceStatus"] == [
        ["Scheduled", "scheduled"],
        ["Delayed", "delayed"],
        ["Open", "open"],
        ["Delayed", "delayed"],
        ["In play", "in-play"],
        ["In play, suspended", "suspended"],
        ["Suspended", "suspended"],
        ["Off", "closed"],
        ["Settled", "settled"],
        ["Void", "void"],
    ]
    assert results["countdown"] == [
        "Starts in 1:05",
        "Starts in 0:01",
        "",
        "",
        "",
        "Starts in 3 h 2 min",
    ]


def test_one_notice_per_race_sums_its_bets_in_money(results: dict[str, object]) -> None:
    assert results["summarise"] == [
        {"kind": "win", "text": "Cup: you won 35.00 EUR (your 2 bets)."},
        {"kind": "loss", "text": "Cup: your bet lost."},
        {"kind": "void", "text": "Cup: 20.00 EUR refunded (your 2 bets)."},
        {"kind": "win", "text": "Cup: you won 1,500.00 EUR and 10.00 EUR refunded (your 2 bets)."},
    ]
