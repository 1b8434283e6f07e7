"""Shared fixtures. Kafka: one real broker per test session, started only if a test asks.

Only a test marked `kafka` may ask: `pytest -m "not kafka"` must start no JVM. Three guards
keep it so. Collection refuses a run in which an unmarked test names a broker fixture; the
broker fixtures fail an unmarked test that pulls them at run time (`getfixturevalue`); and an
unmarked test that starts a `KafkaBroker` of its own fails at the start.

`KAFKA_BOOTSTRAP=host:port` points the tests at an external cluster instead; tests that must
stop or restart the broker (the `kafka_broker` fixture) are skipped then.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from betting.devtools.kafka_broker import KafkaBroker

pytest_plugins = ["pytester"]  # tests/unit/test_kafka_marker_guard.py runs these guards

# Hypothesis' per-example deadline is a timed assert: on two cores shared with a broker and
# serve processes an example can take 500 ms for no fault of the code under test.
settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")

EXTERNAL_BOOTSTRAP_VARIABLE = "KAFKA_BOOTSTRAP"
NAME_PREFIX_LENGTH_MAX = 40
KAFKA_MARKER = "kafka"
BROKER_FIXTURES = frozenset({"kafka_broker", "kafka_bootstrap"})


def external_bootstrap() -> str | None:
    return os.environ.get(EXTERNAL_BOOTSTRAP_VARIABLE) or None


def is_kafka_test(item: pytest.Item) -> bool:
    return item.get_closest_marker(KAFKA_MARKER) is not None


def unmarked_broker_users(items: list[pytest.Item]) -> list[str]:
    """Tests that name a broker fixture (directly or through another fixture) unmarked."""
    return [
        item.nodeid
        for item in items
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())) and not is_kafka_test(item)
    ]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = unmarked_broker_users(items)
    if unmarked:
        raise pytest.UsageError(
            f"these tests use the Kafka broker without the `{KAFKA_MARKER}` marker, so "
            f'`-m "not {KAFKA_MARKER}"` would start a JVM for them:\n  ' + "\n  ".join(unmarked)
        )


def require_kafka_marker(request: pytest.FixtureRequest) -> None:
    if not is_kafka_test(request.node):
        pytest.fail(f"{request.node.nodeid} uses the Kafka broker: mark it `{KAFKA_MARKER}`")


@pytest.fixture(autouse=True)
def no_broker_unless_kafka(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unmarked test that starts any broker of its own fails before the JVM starts."""
    if is_kafka_test(request.node):
        return
    nodeid = request.node.nodeid

    def refuse(_broker: KafkaBroker) -> str:
        pytest.fail(f"{nodeid} starts a Kafka broker: mark it `{KAFKA_MARKER}`")

    monkeypatch.setattr(KafkaBroker, "start", refuse)


@pytest.fixture(scope="session", autouse=True)
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every serve a test starts keeps its history in this session's own SQLite file, not in
    the repository's var/ (serve processes inherit the variable)."""
    path = tmp_path_factory.mktemp("history") / "bet_history.sqlite3"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BETTING_HISTORY__SQLITE_PATH", str(path))
        yield


@pytest.fixture(scope="session")
def session_kafka_broker() -> Iterator[KafkaBroker]:
    """Started when the first kafka test asks, stopped at the end of the session."""
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture
def kafka_broker(request: pytest.FixtureRequest) -> KafkaBroker:
    """The session's local broker, for tests that stop, kill or restart it."""
    require_kafka_marker(request)
    if external_bootstrap() is not None:
        pytest.skip(f"{EXTERNAL_BOOTSTRAP_VARIABLE} names an external cluster we cannot restart")
    broker: KafkaBroker = request.getfixturevalue("session_kafka_broker")
    return broker


@pytest.fixture
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers: the external cluster if named, else the session's local broker."""
    require_kafka_marker(request)
    external = external_bootstrap()
    if external is not None:
        return external
    broker: KafkaBroker = request.getfixturevalue("session_kafka_broker")
    return broker.bootstrap


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic- and group-safe name unique to this test run: `<test name>-<random hex>`."""
    # Topic names allow only [a-zA-Z0-9._-]; tests share one broker, so names must not repeat.
    test_name = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name)[:NAME_PREFIX_LENGTH_MAX]
    return f"{test_name.strip('-')}-{uuid.uuid4().hex[:12]}"
