"""`python -m betting serve` as a user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "betting", "serve"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


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
            time.sleep(0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_healthz_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    port = free_port()
    process = start_serve({"BETTING_SERVER__PORT": str(port)})
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz") == b'{"status":"ok"}'
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, stderr.decode()
    assert b'"msg":"serving"' in stderr


def test_serve_refuses_a_bad_config_naming_the_key() -> None:
    process = start_serve({"BETTING_SERVER__PORT": "not-a-port"})
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 2
    assert b"server.port: expected an integer" in stderr
