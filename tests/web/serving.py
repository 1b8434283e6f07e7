"""Serving the app for browser tests: constants, the process's address, plain HTTP calls."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.serve_process import serve_log

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path(os.environ.get("BETTING_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_TOKEN = "web-test-admin-token"
BET_SHARDS = 4
READY_TIMEOUT_S = 60
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Served:
    base_url: str
    edge_port: int
    log_path: str


async def until_ready(base_url: str, process: Any) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        status, _ = await asyncio.to_thread(http_json, "GET", f"{base_url}/readyz")
        if status == 200:
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve not ready:\n{serve_log(process).decode()[-4000:]}")
        await asyncio.sleep(0.2)


def http_json(
    method: str, url: str, body: object = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except OSError as error:  # not listening yet
        return 0, {"error": str(error)}


def screenshot_path(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)
