"""The guards in tests/conftest.py: a test that would start the broker without the `kafka`
marker fails instead, so `pytest -m "not kafka"` never starts a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
MARKERS = ["kafka: the real broker", "browser: Chromium", "node: node"]


@pytest.fixture
def guarded(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    markers = "\n    ".join(MARKERS)
    pytester.makeini(
        f"[pytest]\nasyncio_default_fixture_loop_scope = function\nmarkers =\n    {markers}\n"
    )
    return pytester


def test_an_unmarked_test_naming_the_broker_refuses_the_run(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(
        test_named="def test_named(kafka_bootstrap):\n    pass\n",
        test_other="def test_other():\n    pass\n",
    )
    result = guarded.runpytest_inprocess("-m", "not kafka", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "test_named.py::test_named" in result.stderr.str()
    assert "test_other" not in result.stderr.str()


def test_an_unmarked_test_pulling_the_broker_at_run_time_fails(guarded: pytest.Pytester) -> None:
    guarded.makepyfile("def test_pulled(request):\n    request.getfixturevalue('kafka_broker')\n")
    result = guarded.runpytest_inprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_pulled uses the Kafka broker: mark it `kafka`*"])


def test_an_unmarked_test_starting_a_broker_of_its_own_fails(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(
        "from betting.devtools.kafka_broker import KafkaBroker\n"
        "def test_own():\n"
        "    with KafkaBroker():\n"
        "        pass\n"
    )
    result = guarded.runpytest_inprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_own starts a Kafka broker: mark it `kafka`*"])
