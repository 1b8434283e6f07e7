"""Prometheus metrics at /metrics, in the text exposition format, for this instance.

Each metric family is rendered once, with one HELP and one TYPE line and all its samples
together (the format requires it: a family split over several blocks, as one per forwarder
was, fails a Prometheus parser). Label values are escaped as the format says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from betting.tasks.engine import LATENCY_BUCKETS_MS, Engine, Histogram
from betting.tasks.forward import Forwarder
from betting.tasks.skipped import Skipped

Labels = Mapping[str, str]


@dataclass
class MetricSources:
    engine: Engine | None = None
    forwarders: Sequence[Forwarder] = ()
    edge_connections: Callable[[], int] | None = None
    edge_client_errors: Callable[[], Mapping[int, int]] | None = None
    lag: Callable[[], Awaitable[int]] | None = None
    http_refusals: Callable[[], Mapping[int, int]] | None = None
    extra: dict[str, float] = field(default_factory=dict)
    skipped: Sequence[Skipped] = ()  # readers that skip records they cannot decode


def metrics_route(sources: MetricSources) -> Route:
    async def metrics(request: Request) -> PlainTextResponse:
        lines = await render(sources)
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    return Route("/metrics", metrics, methods=["GET"])


async def render(sources: MetricSources) -> list[str]:
    lines: list[str] = []
    if sources.engine is not None:
        lines += _engine(sources.engine)
    if sources.forwarders:
        lines += _family("betting_forwarded_total", "counter", "Messages published to the edge.", [
            ({"task": forwarder.name}, forwarder.stats.published)
            for forwarder in sources.forwarders
        ])  # fmt: skip
    if sources.skipped:
        lines += _family(
            "betting_records_skipped_total", "counter", "Records a reader could not decode.",
            [({"reader": reader.reader, "topic": topic}, count)
             for reader in sources.skipped
             for topic, count in sorted(reader.counts.items())],
        )  # fmt: skip
    if sources.edge_connections is not None:
        lines += _family(
            "betting_edge_connections", "gauge", "Open edge sockets.",
            [({}, sources.edge_connections())],
        )  # fmt: skip
    if sources.edge_client_errors is not None:
        lines += _family(
            "betting_edge_client_errors_total", "counter",
            "Client mistakes the edge refused, by Ably code.",
            [({"code": str(code)}, count)
             for code, count in sorted(sources.edge_client_errors().items())],
        )  # fmt: skip
    if sources.http_refusals is not None:
        lines += _family(
            "betting_http_refusals_total", "counter",
            "Client mistakes the HTTP APIs answered (4xx), by status.",
            [({"status": str(status)}, count)
             for status, count in sorted(sources.http_refusals().items())],
        )  # fmt: skip
    if sources.lag is not None:
        lines += _family(
            "betting_consumer_lag_records", "gauge", "Engine input not consumed yet.",
            [({}, await sources.lag())],
        )  # fmt: skip
    return lines


def _engine(engine: Engine) -> list[str]:
    stats = engine.stats
    lines = _family(
        "betting_bets_total", "counter",
        "Bets decided, by outcome: accepted or the rejection reason (each bet id once).",
        [({"outcome": name}, value) for name, value in sorted(stats.outcomes.items())],
    )  # fmt: skip
    lines += _family(
        "betting_bets_repeated_total", "counter",
        "Bets sent again under a decided bet id, answered with their first outcome.",
        [({}, stats.bets_repeated)],
    )  # fmt: skip
    lines += _family(
        "betting_race_commands_total", "counter",
        "Race commands consumed, by outcome: applied or the refusal reason.",
        [({"outcome": name}, value) for name, value in sorted(stats.commands.items())],
    )  # fmt: skip
    lines += _family(
        "betting_odds_published_total", "counter", "Odds snapshots.", [({}, stats.odds_published)]
    )
    lines += _family(
        "betting_dead_letters_total", "counter", "Undecodable records.", [({}, stats.dead_letters)]
    )
    lines += _histogram(
        "betting_engine_commit_seconds", "Transaction commit time.", stats.commit_ms
    )
    lines += _histogram(
        "betting_bet_decision_seconds", "From the edge's receipt to the committed outcome.",
        stats.bet_decision_ms,
    )  # fmt: skip
    return lines


def _family(
    name: str, kind: str, help_text: str, samples: Sequence[tuple[Labels, float]]
) -> list[str]:
    return [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}"] + [
        f"{name}{_labels(labels)} {value}" for labels, value in samples
    ]


def _histogram(name: str, help_text: str, histogram: Histogram) -> list[str]:
    lines = [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} histogram"]
    cumulative = 0
    for bound_ms, count in zip(LATENCY_BUCKETS_MS, histogram.counts, strict=False):
        cumulative += count
        lines.append(f"{name}_bucket{_labels({'le': str(bound_ms / 1000)})} {cumulative}")
    lines.append(f'{name}_bucket{{le="+Inf"}} {histogram.count}')
    lines.append(f"{name}_sum {histogram.total_ms / 1000}")
    lines.append(f"{name}_count {histogram.count}")
    return lines


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape_label(value)}"' for key, value in labels.items()) + "}"


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")
