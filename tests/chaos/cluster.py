"""Two `serve` instances on the real broker, and the seeded plan of what to kill when.

Each instance keeps its HTTP and edge ports and its `kafka.instance_id` across restarts, so a
restart fences its own predecessor and the bettors' SDKs reconnect to the same address.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from betting.client import BettorEndpoints
from betting.devtools.kafka_broker import KafkaBroker
from tests.support.serve_process import ServeProcess, free_port, start_serve

ADMIN_TOKEN = "chaos-admin-token"
BROKER = "broker"


@dataclass
class Instance:
    instance_id: str
    env: dict[str, str]
    http_port: int = field(default_factory=free_port)
    edge_port: int = field(default_factory=free_port)
    process: ServeProcess | None = None
    log_paths: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def endpoints(self) -> BettorEndpoints:
        return BettorEndpoints(self.api_url, "127.0.0.1", self.edge_port, tls=False)

    def start(self) -> None:
        self.process = start_serve(
            {
                **self.env,
                "BETTING_SERVER__PORT": str(self.http_port),
                "BETTING_EDGE__PORT": str(self.edge_port),
                "BETTING_KAFKA__INSTANCE_ID": self.instance_id,
                "BETTING_ADMIN__TOKEN": ADMIN_TOKEN,
            }
        )
        self.log_paths.append(self.process.log_path)

    def kill(self) -> None:
        """kill -9: no shutdown, no last commit."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def pause(self) -> None:
        """SIGSTOP: the process stalls, as in a long GC pause or a frozen VM, sockets open."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def admin_get(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.api_url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer


# A stall past the engine's 10 s session timeout: the group gives the stalled instance's
# partitions to the other, and the stalled one wakes with a batch in hand (a zombie).
PAUSE_S = (12.0, 16.0)


@dataclass(frozen=True, slots=True)
class Fault:
    at_s: float  # seconds into the load
    target: str  # an instance id, or BROKER
    down_s: float  # how long it stays down (or stalled) before the restart (or the wake)
    pause: bool = False  # SIGSTOP then SIGCONT, instead of kill -9 then a restart


def fault_plan(
    rng: random.Random, seconds: float, kills: int, instances: list[str], pauses: int = 1
) -> list[Fault]:
    """`kills` kill -9s of a random instance, `pauses` stalls of one, and one broker kill, at
    random moments inside the load (none in its first or last tenth), in time order."""
    times = sorted(rng.uniform(0.1 * seconds, 0.85 * seconds) for _ in range(kills + pauses + 1))
    kinds = ["broker"] + ["pause"] * pauses + ["kill"] * kills
    rng.shuffle(kinds)
    plan = []
    for at_s, kind in zip(times, kinds, strict=True):
        if kind == "broker":
            plan.append(Fault(at_s, BROKER, rng.uniform(5.0, 10.0)))
        elif kind == "pause":
            plan.append(Fault(at_s, rng.choice(instances), rng.uniform(*PAUSE_S), pause=True))
        else:
            plan.append(Fault(at_s, rng.choice(instances), rng.uniform(0.2, 3.0)))
    return plan


@dataclass
class FaultLog:
    kills: int = 0
    pauses: int = 0
    broker_kills: int = 0
    lines: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)  # instances found dead before a kill

    def check_alive(self, instance: Instance) -> None:
        if instance.process is not None and instance.process.poll() is not None:
            self.crashes.append(f"{instance.instance_id} exited {instance.process.returncode} "
                                f"(log {instance.log_paths[-1]})")  # fmt: skip
            instance.start()


async def inject(
    plan: list[Fault],
    instances: dict[str, Instance],
    broker: KafkaBroker,
    started_at: float,
    faults: FaultLog,
) -> None:
    """Run the plan: each fault at its moment (or at once, if the previous one overran)."""
    loop = asyncio.get_running_loop()
    for fault in plan:
        await asyncio.sleep(max(0.0, started_at + fault.at_s - loop.time()))  # the plan's time
        at_s = loop.time() - started_at
        if fault.target == BROKER:
            await asyncio.to_thread(broker.kill)
            faults.broker_kills += 1
            try:
                await asyncio.sleep(fault.down_s)  # the fault lasts this long
            finally:  # the session's broker serves the tests after this one too
                await asyncio.to_thread(broker.restart)
        elif fault.pause:
            instance = instances[fault.target]
            faults.check_alive(instance)
            instance.pause()
            faults.pauses += 1
            try:
                await asyncio.sleep(fault.down_s)
            finally:
                instance.resume()
        else:
            instance = instances[fault.target]
            faults.check_alive(instance)
            await asyncio.to_thread(instance.kill)
            faults.kills += 1
            await asyncio.sleep(fault.down_s)  # the fault lasts this long
            instance.start()
        what = "SIGSTOP" if fault.pause else "kill -9"
        faults.lines.append(f"t={at_s:.1f}s {what} {fault.target}, down {fault.down_s:.1f}s")
