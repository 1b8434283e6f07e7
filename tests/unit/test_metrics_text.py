"""/metrics is valid Prometheus text, by prometheus_client's own parser (the reference)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from betting.api.metrics import MetricSources, escape_label, render
from betting.config import Settings
from betting.edge.local import LocalEdge
from betting.health import Readiness
from betting.log.memory import MemoryLog
from betting.tasks.engine import Engine
from betting.tasks.forward import Forwarder
from betting.tasks.routes import odds_route
from tests.support.exposition import check_exposition


async def _no_lag() -> int:
    return 0


def sources(*forwarder_names: str) -> MetricSources:
    engine = Engine(MemoryLog(), Settings(), Readiness())
    engine.stats.outcomes.update({"accepted": 3, "LATE": 1, "INVALID": 2})
    engine.stats.commands.update({"applied": 2, "ILLEGAL_TRANSITION": 1})
    engine.stats.commit_ms.observe(3.0)
    forwarders = [
        Forwarder(name, MemoryLog(), LocalEdge(), name, None, odds_route)
        for name in forwarder_names
    ]
    for published, forwarder in enumerate(forwarders):
        forwarder.stats.published = published
    return MetricSources(
        engine=engine, forwarders=forwarders, edge_connections=lambda: 2, lag=_no_lag
    )


async def test_each_family_once_however_many_forwarders() -> None:
    text = "\n".join(await render(sources("odds-out", "outcomes-out", "notifier"))) + "\n"
    families = check_exposition(text)
    forwarded = families["betting_forwarded"]
    assert sorted((labels["task"], value) for labels, value in forwarded) == [
        ("notifier", 2.0), ("odds-out", 0.0), ("outcomes-out", 1.0)
    ]  # fmt: skip
    bets = {labels["outcome"]: value for labels, value in families["betting_bets"]}
    assert bets == {"accepted": 3.0, "LATE": 1.0, "INVALID": 2.0}
    commands = {labels["outcome"]: value for labels, value in families["betting_race_commands"]}
    assert commands == {"applied": 2.0, "ILLEGAL_TRANSITION": 1.0}
    assert families["betting_edge_connections"] == [({}, 2.0)]


@given(st.text(max_size=30))
def test_label_values_are_escaped(name: str) -> None:
    import asyncio

    text = "\n".join(asyncio.run(render(sources(name, "plain")))) + "\n"
    families = check_exposition(text)
    names = sorted(labels["task"] for labels, _ in families["betting_forwarded"])
    assert names == sorted([name, "plain"])


def test_escaping_follows_the_text_format() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
