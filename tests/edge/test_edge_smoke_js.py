"""One smoke test with the official JavaScript SDK (npm `ably` + `@ably/vcdiff-decoder`)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from betting.edge.local.testing import ROOT_KEY, running_edge

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SCRIPT = Path(__file__).with_name("smoke_ably.mjs")
TIMEOUT_S = 30.0


def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the JavaScript smoke test")
    if not (WEB / "package.json").exists():
        pytest.skip("web/package.json is missing")
    if not (WEB / "node_modules" / "ably").exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=300
        )
    return WEB / "node_modules"


async def test_official_js_sdk_subscribes_with_deltas_publishes_and_uses_tokens() -> None:
    modules = node_modules()
    async with running_edge() as edge:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            str(edge.port),
            ROOT_KEY,
            str(modules.parent),
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        result = json.loads(stdout.decode().strip().splitlines()[-1])
        assert result == {"ok": True, "clientId": "js-punter", "received": 5}, result
        assert process.returncode == 0
        history = edge.hub.channels.get("race:js").history
        assert history[-1].delta is not None, "the JS subscriber was sent deltas"


async def test_official_js_sdk_renews_its_token_when_the_edge_asks() -> None:
    modules = node_modules()
    async with running_edge() as edge:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT.with_name("renew_ably.mjs")),
            str(edge.port),
            ROOT_KEY,
            str(modules.parent),
            "3000",
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
        result = json.loads(stdout.decode().strip().splitlines()[-1])
        assert result["calls"] >= 3 and result["same"], result
        assert "disconnected" not in result["states"], result
