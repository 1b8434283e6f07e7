"""serve with the README's Confluent Cloud settings, against a broker that listens as Confluent
Cloud does: SASL_SSL, a server certificate (from a CA this test makes) and a PLAIN user.

One broker of its own for the module (the session broker is untouched). Its PLAINTEXT
listener carries only the broker's own traffic; everything serve does goes through SASL_SSL.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from betting.client import BettorEndpoints
from betting.devtools.certificates import LocalAuthority, make_local_authority
from betting.devtools.kafka_broker import KafkaBroker, SaslSslListener
from tests.integration.races_api import (
    TOKEN,
    Bettor,
    Served,
    acall,
    create_open_race,
    race_state,
    until,
)
from tests.support.serve_process import REPO, free_port, readyz, serve_log, start_serve, until_ready

pytestmark = pytest.mark.kafka
USER = "betting-api-key"
# Random per run: finding it in a log can only be a leak, never a coincidence.
PASSWORD = secrets.token_hex(16)
WRONG_PASSWORD = secrets.token_hex(16)
READY_TIMEOUT_S = 90
REFUSAL_TIMEOUT_S = 60


@dataclass(frozen=True)
class SecureBroker:
    broker: KafkaBroker
    authority: LocalAuthority


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    authority = make_local_authority(tmp_path_factory.mktemp("tls"))
    listener = SaslSslListener(authority.keystore_file, {USER: PASSWORD})
    with KafkaBroker(sasl_ssl=listener) as broker:
        yield SecureBroker(broker, authority)


def readme_confluent_settings() -> dict[str, str]:
    """The BETTING_* settings of the README's "For Confluent Cloud" block, as written there."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"For Confluent Cloud.*?```sh\n(.*?)```", readme, re.DOTALL)
    assert block is not None, "README.md lost its Confluent Cloud block"
    return dict(re.findall(r"(BETTING_[A-Z_]+)=(\S+)", block.group(1)))


def confluent_env(secure: SecureBroker, password: str, ca_file: Path | None) -> dict[str, str]:
    """The README's Confluent Cloud settings with this broker's address and user in place of
    the placeholders. One value differs: replication factor 1, since a single broker can
    hold only one replica of each partition (Confluent Cloud needs 3). The CA file is ours,
    where Confluent Cloud's certificates are trusted through the system's trust store."""
    readme = readme_confluent_settings()
    env = {
        **readme,
        "BETTING_KAFKA__BOOTSTRAP": secure.broker.sasl_ssl_bootstrap,
        "BETTING_KAFKA__SASL_USERNAME": USER,
        "BETTING_KAFKA__SASL_PASSWORD": password,
        "BETTING_KAFKA__REPLICATION_FACTOR": "1",  # the README says 3
    }
    assert env.keys() == readme.keys()
    assert readme["BETTING_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert readme["BETTING_KAFKA__SASL_MECHANISM"] == "PLAIN"
    if ca_file is not None:
        env["BETTING_KAFKA__SSL_CA_FILE"] = str(ca_file)
    # The tests' own override would otherwise point serve at the session's PLAINTEXT broker.
    env["KAFKA_BOOTSTRAP"] = ""
    return env


@pytest.fixture
async def served(secure_broker: SecureBroker) -> AsyncIterator[Served]:
    http_port, edge_port = free_port(), free_port()
    env = confluent_env(secure_broker, PASSWORD, secure_broker.authority.ca_file)
    process = start_serve(
        {
            **env,
            "BETTING_SERVER__PORT": str(http_port),
            "BETTING_EDGE__PORT": str(edge_port),
            "BETTING_ADMIN__TOKEN": TOKEN,
        }
    )
    api = f"http://127.0.0.1:{http_port}"
    try:
        await until_ready(http_port, 200, READY_TIMEOUT_S)
        yield Served(api, BettorEndpoints(api, "127.0.0.1", edge_port, tls=False))
    finally:
        process.terminate()
        process.wait(30)
        log = serve_log(process)
        assert PASSWORD.encode() not in log, "the SASL password reached serve's log"


async def test_serve_runs_on_sasl_ssl_with_the_readme_settings(served: Served) -> None:
    api = served.api
    view = await create_open_race(api, "sasl-gp")
    prices = {r["runner_id"]: r["odds"] for r in view["runners"]}
    alice = Bettor(served, "alice")
    await alice.start()
    try:
        bet_id = await alice.bet("sasl-gp", "car-2", prices["car-2"], view["version"], 2_000)
        outcome = await alice.next("outcome")
        assert (outcome["bet_id"], outcome["status"]) == (bet_id, "accepted")

        assert (await acall(api, "POST", "/admin/races/sasl-gp/close", {}))[0] == 202
        await until(lambda: race_state(api, "sasl-gp", "closed"))
        placings = {"placings": ["car-2", "car-4"]}
        assert (await acall(api, "POST", "/admin/races/sasl-gp/result", placings))[0] == 202
        settlement = await alice.next("settlement")
        assert (settlement["bet_id"], settlement["result"]) == (bet_id, "won")
    finally:
        await alice.realtime.close()


async def wait_for_refusal(port: int, reason: re.Pattern[str]) -> str:
    """/readyz's "event log" reason once it names the cause; serve keeps retrying meanwhile."""
    deadline = time.monotonic() + REFUSAL_TIMEOUT_S
    while True:
        code, body = await asyncio.to_thread(readyz, port)
        detail = str(body.get("reasons", {}))
        if code == 503 and reason.search(detail):
            return detail
        assert time.monotonic() < deadline, f"/readyz never named the cause: {code} {body}"
        await asyncio.sleep(0.3)


@pytest.mark.parametrize(
    ("password", "trust_our_ca", "cause"),
    [
        # The broker's own words for a wrong PLAIN password.
        (WRONG_PASSWORD, True, r"SaslAuthenticationFailed.*(?i:invalid username or password)"),
        # Without the CA file the system's trust store is used, which does not know our CA.
        (PASSWORD, False, r"(?i)certificate verify failed"),
    ],
    ids=["wrong-password", "untrusted-certificate"],
)
async def test_a_refused_connection_keeps_serve_unready_and_says_why(
    secure_broker: SecureBroker, password: str, trust_our_ca: bool, cause: str
) -> None:
    ca_file = secure_broker.authority.ca_file if trust_our_ca else None
    http_port = free_port()
    process = start_serve(
        {**confluent_env(secure_broker, password, ca_file), "BETTING_SERVER__PORT": str(http_port)}
    )
    try:
        detail = await wait_for_refusal(http_port, re.compile(cause))
        assert process.poll() is None, "serve gave up instead of waiting for the log"
    finally:
        process.terminate()
        process.wait(30)
    log = serve_log(process).decode()
    warnings = [line for line in log.splitlines() if '"event log unavailable"' in line]
    assert warnings and re.search(cause, warnings[0]), log
    assert secure_broker.broker.sasl_ssl_bootstrap in warnings[0]
    for secret in (password, PASSWORD, WRONG_PASSWORD):
        assert secret not in log and secret not in detail
