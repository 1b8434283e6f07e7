"""Fixtures for the web pages in a real browser: `serve` on the embedded default (in-memory
log, SQLite history, local edge), and Debian's Chromium driven headless by Playwright (never a
downloaded browser). The pipeline over Kafka has its own tests; the pages need only what
serve answers, and a broker per session would cost the machine more than the pages do.

Set-up: `apt-get install -y chromium` and `pip install playwright`; no `playwright install`.
Without either, the browser tests are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.serve_process import free_port, start_serve
from tests.web.serving import (
    ADMIN_TOKEN,
    BET_SHARDS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    Served,
    until_ready,
)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """`python -m betting serve` on the embedded default, with its own ports, history file
    and admin token."""
    http_port, edge_port = free_port(), free_port()
    process = start_serve(
        {
            "BETTING_EVENT_LOG__KIND": "memory",
            "BETTING_HISTORY__KIND": "sqlite",
            "BETTING_HISTORY__SQLITE_PATH": str(tmp_path / "history.sqlite3"),
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_EDGE__BET_SHARDS": str(BET_SHARDS),
            "BETTING_ADMIN__TOKEN": ADMIN_TOKEN,
        }
    )
    base_url = f"http://127.0.0.1:{http_port}"
    try:
        await until_ready(base_url, process)
        yield Served(base_url, edge_port, process.log_path)
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
async def browser_context(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Chromium with a fresh profile and a phone-sized window."""
    if request.node.get_closest_marker("browser") is None:
        pytest.fail(f"{request.node.nodeid} starts Chromium: mark it `browser`")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    async_api = pytest.importorskip("playwright.async_api", reason="pip install playwright")
    async with async_api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=PHONE,
        )
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            await context.close()
