"""Each campaign gets its own serve process on the embedded default (in-memory log, local
edge), so one campaign's damage is never blamed on the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.campaign import SUMMARY
from tests.fuzz.serve_under_test import Serve


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.fuzz)


@pytest.fixture(scope="session", autouse=True)
def fresh_summary() -> None:
    """artifacts/fuzz-summary.txt holds this run's campaigns only."""
    SUMMARY.parent.mkdir(exist_ok=True)
    SUMMARY.write_text("")


@pytest.fixture
def serve() -> Iterator[Serve]:
    serve = Serve()
    serve.start()
    try:
        yield serve
    finally:
        serve.stop()
