"""`python -m betting serve` as a user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """serve in its own process; its log goes to a temporary file (`process.log_path`), since
    a pipe nobody reads would fill and block it."""
    with tempfile.NamedTemporaryFile(prefix="serve-", suffix=".log", delete=False) as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "betting", "serve"],
            cwd=REPO,
            env={**os.environ, "BETTING_EDGE__PORT": "0", **env},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    process.log_path = log_file.name  # type: ignore[attr-defined]
    return process


def serve_log(process: subprocess.Popen[bytes]) -> bytes:
    return Path(process.log_path).read_bytes()  # type: ignore[attr-defined]


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
        process.wait(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, serve_log(process).decode()
    assert b'"msg":"serving"' in serve_log(process)


def test_serve_refuses_a_bad_config_naming_the_key() -> None:
    process = start_serve({"BETTING_SERVER__PORT": "not-a-port"})
    process.wait(timeout=15)
    assert process.returncode == 2
    assert b"server.port: expected an integer" in serve_log(process)


def test_edge_command_serves_the_local_edge_alone() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "betting", "edge"],
        cwd=REPO,
        env={**os.environ, "BETTING_EDGE__PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_http(f"http://127.0.0.1:{port}/time").startswith(b"[")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()


def test_serve_stops_with_a_clear_error_when_a_part_cannot_run() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        edge_port = taken.getsockname()[1]
        process = start_serve(
            {"BETTING_SERVER__PORT": str(free_port()), "BETTING_EDGE__PORT": str(edge_port)}
        )
        assert process.wait(timeout=30) == 1
    log = serve_log(process)
    assert b'"level":"error"' in log and b"a task failed; stopping" in log


def post(url: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_auth_token_signs_for_a_good_name_and_refuses_garbage() -> None:
    port = free_port()
    process = start_serve({"BETTING_SERVER__PORT": str(port)})
    url = f"http://127.0.0.1:{port}/auth/token"
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        status, answer = post(url, b'{"user_id": "alice"}')
        token_request = answer["token_request"]
        assert status == 200 and token_request["clientId"] == "alice"
        assert token_request["mac"] and "secret" not in json.dumps(answer)
        assert str(answer["api_token"]).startswith("alice:")
        capability = json.loads(str(token_request["capability"]))
        # Only alice's own shard of the four: crc32("alice") % 4.
        assert {k: v for k, v in capability.items() if k.startswith("inbound:")} == {
            f"inbound:bets:{zlib.crc32(b'alice') % 4}": ["publish"]
        }
        for body, expected in [
            (b"{not json", 400),
            (b"[]", 400),
            (b"{}", 400),
            (b'{"user_id": ""}', 400),
            (b'{"user_id": "a b/c"}', 400),
            (b'{"user_id": "alice\\n"}', 400),
            (b'{"user_id": "a:b"}', 400),
            (b'{"user_id": 7}', 400),
            (b'{"user_id": "' + b"x" * 5_000 + b'"}', 413),
        ]:
            status, answer = post(url, body)
            assert status == expected, (body[:40], answer)
            assert answer["error"]
    finally:
        process.terminate()
        process.wait(15)
