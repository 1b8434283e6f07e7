"""`make bench`: every benchmark in turn; each prints its figures and writes its section of
docs/benchmarks.md."""

from __future__ import annotations

from bench import calibration, engine, fanout, loop, pipeline


def main(argv: list[str]) -> int:
    for bench in (engine, pipeline, fanout, loop, calibration):
        status = bench.main([])
        if status:
            return status
    return 0
