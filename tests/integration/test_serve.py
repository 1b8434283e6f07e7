"""`python -m betting serve` as a user runs it: a real process, real signals, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import zlib
from typing import Any

import pytest

from tests.support.serve_process import REPO, free_port, serve_log, start_serve, wait_http


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


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
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
