"""One fuzz campaign's bookkeeping, the checks after it, and its one-line summary.

A campaign feeds inputs to a real serve process and classifies each answer: accepted, refused
(a 4xx, an ERROR, a NACK) or a crash. Crashes are grouped by a short class name; the smallest
input of each class is kept as its reproducer. After the campaign, serve must be alive and
healthy, still serve a normal bettor, have logged no traceback or ERROR, and not have grown.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.fuzz.serve_under_test import Serve

REPO = Path(__file__).resolve().parents[2]
SUMMARY = REPO / "artifacts" / "fuzz-summary.txt"
RSS_GROWTH_MAX_BYTES = 50 * 1024 * 1024
RESTARTS_MAX = 3  # a campaign that keeps killing serve stops after this many restarts
# Unanswered inputs cost a timeout each: after this many the campaign stops (it has failed
# anyway), so that a server that stalls cannot stretch the suite without bound.
STALLS_MAX = 20
STALL_WORDS = ("no answer", "never", "timed out")
REPRO_CHARS = 300


@dataclass
class Crash:
    symptom: str
    reproducer: str
    size: int
    count: int = 1


@dataclass
class Campaign:
    name: str
    seed: int
    serve: Serve
    inputs: int = 0
    refused: int = 0
    crashes: dict[str, Crash] = field(default_factory=dict)
    restarts: int = 0
    rss_start: int = 0
    rss_growth: int = 0
    stalls: int = 0

    def begin(self, check_bettor: Callable[[Serve, str], str | None]) -> None:
        self._check_bettor = check_bettor
        problem = check_bettor(self.serve, "warm-up")  # also warms serve up before measuring
        assert problem is None, f"serve does not serve a bettor before {self.name}: {problem}"
        self.serve.new_log_failures()
        self.rss_start = self.serve.rss_bytes()

    def count(self, refused: bool) -> None:
        self.inputs += 1
        self.refused += int(refused)

    def crash(self, kind: str, symptom: str, reproducer: str, size: int | None = None) -> None:
        """One more crash of class `kind`; keep the smallest reproducer seen for it (by
        `size`, the input's length on the wire, when given)."""
        size = len(reproducer) if size is None else size
        if any(word in f"{kind} {symptom}" for word in STALL_WORDS):
            self.stalls += 1
        known = self.crashes.get(kind)
        if known is None:
            self.crashes[kind] = Crash(symptom[:REPRO_CHARS], reproducer, size)
        else:
            known.count += 1
            if size < known.size:
                known.reproducer, known.symptom = reproducer, symptom[:REPRO_CHARS]
                known.size = size

    def after_input(self, reproducer: str, size: int | None = None) -> bool:
        """Serve's state after one input: log failures and a dead process are crashes of that
        input. False when serve died (restarted if restarts are left): stop or go on."""
        for line in self.serve.new_log_failures():
            self.crash(log_class(line), log_symptom(line), reproducer, size)
        if self.stalls >= STALLS_MAX:
            return False
        if self.serve.alive():
            return True
        code = self.serve.process.returncode  # type: ignore[union-attr]
        self.crash("serve exited", f"exit code {code}", reproducer, size)
        if self.restarts >= RESTARTS_MAX:
            return False
        self.restarts += 1
        self.serve.restart()
        self.rss_start = self.serve.rss_bytes()
        return True

    @property
    def total_crashes(self) -> int:
        return sum(crash.count for crash in self.crashes.values())

    def finish(self) -> None:
        """The checks after the campaign; writes the summary line whatever they find."""
        serve = self.serve
        if not serve.alive():
            self.crash("serve exited", "dead at the end", "(whole campaign)", 10**9)
        else:
            status = serve.healthz_status()
            if status != 200:
                self.crash(
                    "healthz not 200", f"/healthz answered {status}", "(after campaign)", 10**9
                )
            problem = self._check_bettor(serve, "after")
            if problem is not None:
                self.crash("normal bettor not served", problem, "(after campaign)", 10**9)
            growth = self.rss_growth = serve.rss_bytes() - self.rss_start
            if growth > RSS_GROWTH_MAX_BYTES:
                self.crash("rss growth", f"RSS grew {growth >> 20} MB", "(whole campaign)", 10**9)
            for line in serve.new_log_failures():
                self.crash(log_class(line), log_symptom(line), "(after campaign)", 10**9)
        serve.keep_log = bool(self.crashes)
        self.write_summary()

    def summary_line(self) -> str:
        return (
            f"fuzz: {self.name} inputs={self.inputs} refused={self.refused} "
            f"crashes={self.total_crashes}"
        )

    def report(self) -> str:
        lines = [
            self.summary_line(),
            f"  seed={self.seed} (FUZZ_SEED overrides); serve restarts={self.restarts}; "
            f"RSS growth {self.rss_growth / 2**20:.1f} MB; unanswered inputs={self.stalls}"
            + (" (stopped early)" if self.stalls >= STALLS_MAX else ""),
        ]
        if self.crashes and self.serve.process is not None:
            lines.append(f"  serve's log: {self.serve.process.log_path}")  # type: ignore[attr-defined]
        for kind, crash in sorted(self.crashes.items()):
            lines.append(f"  crash class {kind!r} x{crash.count}: {crash.symptom}")
            lines.append(f"    smallest input: {crash.reproducer[:REPRO_CHARS]}")
        return "\n".join(lines)

    def write_summary(self) -> None:
        print(self.summary_line())
        SUMMARY.parent.mkdir(exist_ok=True)
        with SUMMARY.open("a") as summary:
            summary.write(self.report() + "\n")


def log_class(line: str) -> str:
    """A log failure's class: serve's message, and for a traceback the exception's type and
    the innermost frame in betting/, so that distinct causes stay distinct."""
    try:
        record = json.loads(line)
    except ValueError:
        return f"stderr: {line.strip()[:80]}"
    if not isinstance(record, dict):
        return f"stderr: {line.strip()[:80]}"
    kind = f"log {record.get('level')}: {str(record.get('msg')).splitlines()[0][:80]}"
    error = record.get("error")
    if isinstance(error, str) and error.strip():
        lines = error.strip().splitlines()
        kind += f" / {exception_line(lines).split(':', 1)[0][:60]}"
        frames = [FRAME.search(text) for text in lines if "/betting/" in text]
        found = [frame for frame in frames if frame is not None]
        if found:
            kind += f" at {found[-1].group(1)}:{found[-1].group(2)}"
    return kind


def log_symptom(line: str) -> str:
    """The exception's last line when there is one, else the line itself."""
    try:
        record = json.loads(line)
        error = record.get("error") if isinstance(record, dict) else None
    except ValueError:
        error = None
    if isinstance(error, str) and error.strip():
        return exception_line(error.strip().splitlines())
    return line


def exception_line(lines: list[str]) -> str:
    """The last `Type: message` line of a traceback (exception groups indent theirs)."""
    for text in reversed(lines):
        stripped = text.lstrip(" |")
        if EXCEPTION.match(stripped):
            return stripped
    return lines[-1].strip()


EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Group|Refused|Exit|Interrupt)\b")


FRAME = re.compile(r'/(betting/[\w/]+\.py)", line \d+, in (\w+)')


def campaign_seed(default: int) -> int:
    return int(os.environ.get("FUZZ_SEED", default))
