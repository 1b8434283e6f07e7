"""Prometheus metrics at /metrics, in the text exposition format, for this instance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from betting.tasks.engine import LATENCY_BUCKETS_MS, Engine, Histogram
from betting.tasks.forward import Forwarder
from betting.tasks.skipped import Skipped


@dataclass
class MetricSources:
    engine: Engine | None = None
    forwarders: Sequence[Forwarder] = ()
    edge_connections: Callable[[], int] | None = None
    lag: Callable[[], Awaitable[int]] | None = None
    extra: dict[str, float] = field(default_factory=dict)
    skipped: Sequence[Skipped] = ()  # readers that skip records they cannot decode


def metrics_route(sources: MetricSources) -> Route:
    async def metrics(request: Request) -> PlainTextResponse:
        lines = await render(sources)
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return Route("/metrics", metrics, methods=["GET"])


async def render(sources: MetricSources) -> list[str]:
    lines: list[str] = []
    engine = sources.engine
    if engine is not None:
        stats = engine.stats
        lines += _counter("betting_bets_total", "Bets decided, by outcome.", [
            (f'{{outcome="{name}"}}', value) for name, value in sorted(stats.outcomes.items())
        ])  # fmt: skip
        lines += _counter(
            "betting_odds_published_total", "Odds snapshots.", [("", stats.odds_published)]
        )
        lines += _counter(
            "betting_dead_letters_total", "Undecodable records.", [("", stats.dead_letters)]
        )
        lines += _histogram(
            "betting_engine_commit_seconds", "Transaction commit time.", stats.commit_ms
        )
        lines += _histogram(
            "betting_bet_decision_seconds", "From the edge's receipt to the committed outcome.",
            stats.bet_decision_ms,
        )  # fmt: skip
    for forwarder in sources.forwarders:
        lines += _counter(
            "betting_forwarded_total", "Messages published to the edge.",
            [(f'{{task="{forwarder.name}"}}', forwarder.stats.published)],
        )  # fmt: skip
    if sources.skipped:
        lines += _counter("betting_records_skipped_total", "Records a reader could not decode.", [
            (f'{{reader="{reader.reader}",topic="{topic}"}}', count)
            for reader in sources.skipped
            for topic, count in sorted(reader.counts.items())
        ])  # fmt: skip
    if sources.edge_connections is not None:
        lines += _gauge(
            "betting_edge_connections", "Open edge sockets.", sources.edge_connections()
        )
    if sources.lag is not None:
        lines += _gauge(
            "betting_consumer_lag_records", "Engine input not consumed yet.", await sources.lag()
        )
    return lines


def _counter(name: str, help_text: str, samples: list[tuple[str, float]]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} counter"] + [
        f"{name}{labels} {value}" for labels, value in samples
    ]


def _gauge(name: str, help_text: str, value: float) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value}"]


def _histogram(name: str, help_text: str, histogram: Histogram) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    cumulative = 0
    for bound_ms, count in zip(LATENCY_BUCKETS_MS, histogram.counts, strict=False):
        cumulative += count
        lines.append(f'{name}_bucket{{le="{bound_ms / 1000}"}} {cumulative}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {histogram.count}')
    lines.append(f"{name}_sum {histogram.total_ms / 1000}")
    lines.append(f"{name}_count {histogram.count}")
    return lines
