"""The VCDIFF encoder against the JS decoder browsers use: `@ably/vcdiff-decoder`, on its own and
as the official `ably` SDK's vcdiff plugin, both from web/package-lock.json, through Node."""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from betting.edge.local.vcdiff import encode
from tests.edge.odds_books import odds_books

pytestmark = pytest.mark.node

REPOSITORY = Path(__file__).resolve().parents[2]
WEB = REPOSITORY / "web"
ROUND_TRIP_SCRIPT = Path(__file__).with_name("vcdiff_roundtrip.mjs")
NODE_PACKAGES = ("ably", "@ably/vcdiff-decoder")
NPM_TIMEOUT_S = 600
NODE_TIMEOUT_S = 120


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: the JS delta tests need Node.js 18+ with npm "
            "(Debian: apt-get install nodejs npm)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def node() -> str:
    """Node, with web/node_modules installed from the lock file when it is missing."""
    node_path = tool("node")
    missing = [name for name in NODE_PACKAGES if not (WEB / "node_modules" / name).is_dir()]
    if missing:
        completed = subprocess.run(
            [tool("npm"), "ci", "--no-audit", "--no-fund"],
            cwd=WEB,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_S,
            check=False,
        )
        if completed.returncode != 0:
            pytest.fail(
                f"`npm ci` in {WEB} failed ({completed.returncode}):\n"
                f"{completed.stdout}\n{completed.stderr}",
                pytrace=False,
            )
    return node_path


def arbitrary_pairs(rng: random.Random) -> list[tuple[str, bytes, bytes]]:
    """Seeded like the Python property tests' shapes: one Node process decodes them all."""
    pairs: list[tuple[str, bytes, bytes]] = [
        ("both empty", b"", b""),
        ("empty source", b"", rng.randbytes(300)),
        ("empty target", rng.randbytes(300), b""),
    ]
    for index in range(150):
        source = rng.randbytes(rng.randrange(0, 2_000))
        target = bytearray(source)
        for _ in range(rng.randrange(0, 12)):
            at = rng.randrange(len(target) + 1)
            target[at : at + rng.randrange(0, 40)] = rng.randbytes(rng.randrange(0, 40))
        pairs.append((f"edited {index}", source, bytes(target)))
        pairs.append((f"equal {index}", source, source))
        pairs.append((f"unrelated {index}", source, rng.randbytes(rng.randrange(0, 2_000))))
        pattern = rng.randbytes(rng.randrange(1, 12))
        repeated = rng.randbytes(rng.randrange(0, 50)) + pattern * rng.randrange(0, 3_000)
        pairs.append((f"repeats {index}", b"", repeated))
        pairs.append((f"repeats after a source {index}", source[:200], repeated + source[:200]))
    return pairs


def odds_book_pairs() -> list[tuple[str, bytes, bytes]]:
    books = odds_books(seed=7, count=40, changes=3)
    pretty = odds_books(seed=8, count=5, changes=5, indent=2)
    return [
        *((f"odds book {index}", books[index], books[index + 1]) for index in range(39)),
        *((f"pretty odds book {index}", pretty[index], pretty[index + 1]) for index in range(4)),
    ]


def decode_in_node(node: str, pairs: list[tuple[str, bytes, bytes]]) -> list[dict[str, str | None]]:
    def text(payload: bytes) -> str:
        return base64.b64encode(payload).decode("ascii")

    cases = [
        {
            "name": name,
            "source": text(source),
            "target": text(target),
            "delta": text(encode(source, target)),
        }
        for name, source, target in pairs
    ]
    completed = subprocess.run(
        [node, str(ROUND_TRIP_SCRIPT)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    results: list[dict[str, str | None]] = [
        json.loads(line) for line in completed.stdout.splitlines()
    ]
    assert len(results) == len(cases), f"node exited {completed.returncode}:\n{completed.stderr}"
    return results


def assert_all_decoded(node: str, pairs: list[tuple[str, bytes, bytes]]) -> None:
    failures = []
    for (name, _, target), result in zip(pairs, decode_in_node(node, pairs), strict=True):
        for decoder in ("raw", "sdk"):
            decoded = result[decoder]
            if decoded is None or base64.b64decode(decoded) != target:
                failures.append(f"{name} ({decoder}): {result['error'] or 'wrong bytes'}")
    assert not failures, f"{len(failures)} decodings of {len(pairs)} cases failed:\n" + "\n".join(
        failures[:20]
    )


def test_js_decoders_give_back_arbitrary_targets(node: str) -> None:
    assert_all_decoded(node, arbitrary_pairs(random.Random(20250601)))


def test_js_decoders_give_back_odds_books(node: str) -> None:
    assert_all_decoded(node, odds_book_pairs())


def test_lock_file_pins_the_official_packages() -> None:
    lock = json.loads((WEB / "package-lock.json").read_text())
    versions = {name: lock["packages"][f"node_modules/{name}"]["version"] for name in NODE_PACKAGES}
    assert versions["ably"].startswith("2.")
    assert versions["@ably/vcdiff-decoder"].startswith("1.")
