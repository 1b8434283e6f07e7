"""`python -m betting serve` on the embedded default, watched the way the fuzz campaigns need:
its log read incrementally for tracebacks and ERROR lines, its RSS read from /proc."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.serve_process import free_port, start_serve, wait_http

ADMIN_TOKEN = "fuzz-admin-token"
EDGE_KEY = "local.root:local-root-secret"  # the local edge's development key (config.toml)
BET_SHARDS = 4
START_TIMEOUT_S = 30.0


def log_failures(text: str) -> list[str]:
    """The log lines that count as a crash: a traceback, or anything at ERROR or above."""
    bad = []
    for line in text.splitlines():
        error = '"level":"error"' in line or '"level":"critical"' in line
        raw = bool(line) and not line.startswith("{")  # not one of serve's JSON lines
        if error or raw or "Traceback" in line:
            bad.append(line)
    return bad


@dataclass
class Serve:
    """One serve process; `restart` replaces a dead one on new ports."""

    process: subprocess.Popen[bytes] | None = None
    http_port: int = 0
    edge_port: int = 0
    _log_offset: int = 0
    logs: list[str] = field(default_factory=list)  # every log failure seen, in order
    keep_log: bool = False  # set when a campaign found something: its report names the log

    def start(self) -> None:
        self.http_port, self.edge_port = free_port(), free_port()
        self.process = start_serve(
            {
                "BETTING_SERVER__PORT": str(self.http_port),
                "BETTING_EDGE__PORT": str(self.edge_port),
                "BETTING_ADMIN__TOKEN": ADMIN_TOKEN,
                "BETTING_EDGE__BET_SHARDS": str(BET_SHARDS),
            }
        )
        self._log_offset = 0
        wait_http(f"{self.api}/readyz", START_TIMEOUT_S)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def new_log_failures(self) -> list[str]:
        """Log failures written since the last call (read incrementally: cheap per input)."""
        assert self.process is not None
        path = Path(self.process.log_path)  # type: ignore[attr-defined]
        with path.open("rb") as log_file:
            log_file.seek(self._log_offset)
            chunk = log_file.read()
        cut = chunk.rfind(b"\n") + 1  # only whole lines; the rest is read next time
        self._log_offset += cut
        failures = log_failures(chunk[:cut].decode(errors="replace"))
        self.logs += failures
        return failures

    def log_text(self) -> str:
        assert self.process is not None
        return Path(self.process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    def healthz_status(self) -> int:
        try:
            with urllib.request.urlopen(f"{self.api}/healthz", timeout=5) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if not (self.logs or self.keep_log):  # a clean log is of no further use
            Path(self.process.log_path).unlink(missing_ok=True)  # type: ignore[attr-defined]

    def restart(self) -> None:
        self.new_log_failures()
        self.stop()
        self.logs.clear()  # the next process's log is judged on its own
        self.start()


def admin_call(serve: Serve, method: str, path: str, body: object = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{serve.api}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def until(check: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def open_race(serve: Serve, race_id: str, runners: int = 7) -> dict[str, Any]:
    """Create and open a race through the admin API; its book once the read model has it."""
    body = {
        "race_id": race_id,
        "name": "Fuzz Cup",
        "runners": [
            {"runner_id": f"car-{n}", "name": f"Car {n}", "rating": 80 + 10 * n}
            for n in range(runners)
        ],
        "scheduled_start_ms": 0,
    }
    status, answer = admin_call(serve, "POST", "/admin/races", body)
    assert status == 202, answer

    def in_state(state: str) -> Any:
        status, view = admin_call(serve, "GET", f"/admin/races/{race_id}")
        return view if status == 200 and view["state"] == state else None

    until(lambda: in_state("scheduled"))
    status, answer = admin_call(serve, "POST", f"/admin/races/{race_id}/open", {})
    assert status == 202, answer
    view: dict[str, Any] = until(lambda: in_state("open"))
    return view


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
