"""Shared fixtures. Kafka: one real broker per test session, started only if a test asks.

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

# No timed asserts: on a shared machine a slow example is load, not a defect.
settings.register_profile("betting", deadline=None)
settings.load_profile("betting")

EXTERNAL_BOOTSTRAP_VARIABLE = "KAFKA_BOOTSTRAP"
NAME_PREFIX_LENGTH_MAX = 40


def external_bootstrap() -> str | None:
    return os.environ.get(EXTERNAL_BOOTSTRAP_VARIABLE) or None


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """The session's local broker, for tests that stop, kill or restart it."""
    if external_bootstrap() is not None:
        pytest.skip(f"{EXTERNAL_BOOTSTRAP_VARIABLE} names an external cluster we cannot restart")
    with KafkaBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers: the external cluster if named, else the session's local broker."""
    external = external_bootstrap()
    if external is not None:
        return external
    broker: KafkaBroker = request.getfixturevalue("kafka_broker")
    return broker.bootstrap


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic- and group-safe name unique to this test run: `<test name>-<random hex>`."""
    # Topic names allow only [a-zA-Z0-9._-]; tests share one broker, so names must not repeat.
    test_name = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name)[:NAME_PREFIX_LENGTH_MAX]
    return f"{test_name.strip('-')}-{uuid.uuid4().hex[:12]}"
