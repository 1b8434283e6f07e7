"""`python -m betting serve` in a process of its own, and waits on what it answers."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
POLL_S = 0.05  # between two probes of a server that is still starting
READY_POLL_S = 0.2


class ServeProcess(subprocess.Popen[bytes]):
    """A serve process with the file its log goes to."""

    log_path: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_serve(env: dict[str, str]) -> ServeProcess:
    """serve in its own process; its log goes to a temporary file (`process.log_path`), since
    a pipe nobody reads would fill and block it."""
    with tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False) as log_file:
        process = ServeProcess(
            [sys.executable, "-m", "betting", "serve"],
            cwd=REPO,
            env={**os.environ, "BETTING_EDGE__PORT": "0", **env},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    process.log_path = log_file.name
    return process


def serve_log(process: ServeProcess) -> bytes:
    return Path(process.log_path).read_bytes()


def wait_http(url: str, timeout_s: float = 15.0) -> bytes:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                body: bytes = response.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def readyz(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            body: dict[str, object] = json.loads(response.read())
            return response.status, body
    except urllib.error.HTTPError as error:
        refused: dict[str, object] = json.loads(error.read())
        return error.code, refused
    except OSError as error:  # not listening yet
        return 0, {"error": str(error)}


async def until_ready(port: int, status: int, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        code, body = await asyncio.to_thread(readyz, port)
        if code == status:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"/readyz stayed {code}: {body}")
        await asyncio.sleep(READY_POLL_S)


def owned_partitions(server: ServeProcess) -> list[int] | None:
    """The partitions this serve's engine restored last (its log says so on each assignment)."""
    owned: list[int] | None = None
    for line in Path(server.log_path).read_text().splitlines():
        if '"restored partitions"' in line:
            owned = json.loads(line)["partitions"]
    return owned
