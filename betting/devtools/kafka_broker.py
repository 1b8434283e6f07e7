"""A real Apache Kafka broker (single-node KRaft, broker and controller in one JVM) for
development, tests and CI.

The jars come from Maven Central through `kafka/pom.xml` into `.cache/kafka/<version>/libs`
(git-ignored); each broker gets its own run folder beside them with its config, data and logs.

    with KafkaBroker() as broker:
        bootstrap = broker.bootstrap       # "127.0.0.1:<port>"
        broker.kill()                      # SIGKILL: a crash, data kept
        broker.restart()                   # same ports, same data

With `sasl_ssl=SaslSslListener(...)` it also listens as Confluent Cloud does: TLS with a
server certificate (see `certificates.py`), then SASL PLAIN users; `broker.sasl_ssl_bootstrap`
names that listener. The broker's own traffic stays on PLAINTEXT.

`python -m betting.devtools.kafka_broker` runs one in the foreground (`make kafka`).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import enum
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aiokafka.client import AIOKafkaClient

MODULE_DIR = Path(__file__).resolve().parent
REPO_ROOT = MODULE_DIR.parents[1]
POM_PATH = MODULE_DIR / "kafka" / "pom.xml"
CACHE_ROOT = REPO_ROOT / ".cache" / "kafka"
HOST = "127.0.0.1"

# Class names as found in kafka_2.13's jar (4.x): the broker main and the storage tool.
BROKER_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"

# Kafka's own start script's heap (1 GiB, fixed): with 512 MiB the young collections came
# every ~1.4 s under the pipeline benchmark, each pausing the broker 6-11 ms.
BROKER_JVM_OPTIONS = (
    "-Xms1g",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)
# The storage tool runs for a second: the C1 compiler alone starts faster.
TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")

FETCH_TIMEOUT_S = 900.0
FORMAT_TIMEOUT_S = 120.0
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
PROBE_TIMEOUT_MS = 3_000
LOG_TAIL_LINES = 40
SASL_SSL_LISTENER = "SASL_SSL"


class KafkaBrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or stopped."""


class BrokerState(enum.Enum):
    NEW = "new"  # nothing launched yet
    RUNNING = "running"  # the JVM answers metadata requests
    DOWN = "down"  # the JVM is gone (shut down or killed); ports and data are kept
    CLOSED = "closed"  # stopped for good; its run folder is removed unless kept


# --- fetching ----------------------------------------------------------------------------------


def kafka_version(pom_path: Path = POM_PATH) -> str:
    """The broker version: the pom's `kafka.version` property is its one source."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = ElementTree.parse(pom_path).find("m:properties/m:kafka.version", namespace)
    if element is None or not element.text:
        raise KafkaBrokerError(f"{pom_path}: no <kafka.version> property")
    return element.text.strip()


def fetch_kafka(cache_root: Path = CACHE_ROOT, pom_path: Path = POM_PATH) -> Path:
    """Copy the broker's jars into `<cache_root>/<version>/libs` once; return that folder.

    The marker holds the pom's digest, so editing the pom fetches again and nothing else does.
    Maven writes into a private folder that is renamed into place, so two test sessions that
    fetch at the same time never see half a folder.
    """
    libs = cache_root / kafka_version(pom_path) / "libs"
    digest = hashlib.sha256(pom_path.read_bytes()).hexdigest()
    if _marker_matches(libs, digest):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-fetching-", dir=libs.parent))
    try:
        _run_maven(pom_path, staging)
        (staging / ".fetched").write_text(digest + "\n")
        _replace_folder(staging, libs, digest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return libs


def _marker_matches(libs: Path, digest: str) -> bool:
    marker = libs / ".fetched"
    return marker.is_file() and marker.read_text().strip() == digest


def _run_maven(pom_path: Path, output: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaBrokerError("Maven (`mvn`) is not on PATH: apt-get install maven")
    command = [
        *(mvn, "-B", "-q", "--no-transfer-progress", "-f", str(pom_path)),
        *("dependency:copy-dependencies", f"-DoutputDirectory={output}"),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        output_text = (result.stdout + result.stderr).strip()
        raise KafkaBrokerError(f"{' '.join(command)} failed:\n{output_text}")


def _replace_folder(staging: Path, libs: Path, digest: str) -> None:
    if _marker_matches(libs, digest):
        return  # another process finished the same fetch first
    if libs.exists():
        shutil.rmtree(libs)  # a stale fetch for an older pom
    try:
        staging.rename(libs)
    except OSError:
        if not _marker_matches(libs, digest):
            raise


# --- configuration -----------------------------------------------------------------------------


def free_port() -> int:
    """A port that was free a moment ago; the kernel picks it so parallel sessions differ."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding, as Kafka prints."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        # As Kafka's own Uuid.randomUuid does: an id starting with "-" reads as a flag.
        if not cluster_id.startswith("-"):
            return cluster_id


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener: TLS with `keystore_file` (Kafka's PEM keystore: an unencrypted
    PKCS#8 key, then the certificate chain), then SASL PLAIN with these users' passwords."""

    keystore_file: Path
    users: Mapping[str, str]  # username -> password


# These would end or break the JAAS line (a name is bare, a password a quoted string).
_JAAS_UNSAFE = frozenset('"\\;=\n\r\t ')


def sasl_ssl_properties(port: int, listener: SaslSslListener) -> dict[str, str]:
    """The listener's own settings, prefixed with its name so PLAINTEXT is left as it is."""
    for text in (*listener.users, *listener.users.values()):
        if not text or _JAAS_UNSAFE.intersection(text):
            raise KafkaBrokerError(f"a SASL user name or password holds {sorted(_JAAS_UNSAFE)}")
    users = " ".join(f'user_{name}="{password}"' for name, password in listener.users.items())
    prefix = f"listener.name.{SASL_SSL_LISTENER.lower()}."
    return {
        "sasl.enabled.mechanisms": "PLAIN",
        f"{prefix}plain.sasl.jaas.config": (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};"
        ),
        f"{prefix}ssl.keystore.type": "PEM",
        f"{prefix}ssl.keystore.location": str(listener.keystore_file),
        f"{prefix}ssl.client.auth": "none",  # clients prove themselves with SASL, not a cert
    }


def server_properties(
    port: int,
    controller_port: int,
    data_dir: Path,
    sasl_ssl: tuple[int, SaslSslListener] | None = None,
) -> str:
    listeners = [f"PLAINTEXT://{HOST}:{port}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    if sasl_ssl is not None:
        listeners.append(f"{SASL_SSL_LISTENER}://{HOST}:{sasl_ssl[0]}")
        protocols.append(f"{SASL_SSL_LISTENER}:SASL_SSL")
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": ",".join([*listeners, f"CONTROLLER://{HOST}:{controller_port}"]),
        "advertised.listeners": ",".join(listeners),
        "listener.security.protocol.map": ",".join(protocols),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        # On, as in Kafka's default: a producer's first send to a new topic just works in
        # development; code that needs a partition count creates its topic explicitly.
        "auto.create.topics.enable": "true",
        "num.partitions": "1",
        # One node: every internal topic has one replica and needs only that one in sync.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Fewer partitions than the default 50: the first group join or transaction creates
        # these topics, and 50 partitions make that take seconds.
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.num.partitions": "4",
        # Tests join groups quickly with 1-2 s sessions; the default floor is 6 s.
        "group.initial.rebalance.delay.ms": "0",
        "group.min.session.timeout.ms": "500",
        # After a kill the restarted broker waits for its old registration's session to lapse
        # (9 s by default); a short session makes a crash-and-restart test take ~3 s.
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "2000",
        # Two shared cores: fewer threads than the defaults (3 network, 8 io).
        "num.network.threads": "2",
        "num.io.threads": "2",
        "num.recovery.threads.per.data.dir": "1",
    }
    if sasl_ssl is not None:
        settings.update(sasl_ssl_properties(*sasl_ssl))
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def log4j_properties(log_file: Path) -> str:
    """Log4j 2 configuration: everything goes to one file, nothing to the console."""
    return "\n".join(
        [
            "status = warn",
            # Kafka logs its own shutdown; log4j's hook would close the file before that.
            "shutdownHook = disable",
            "appender.file.type = File",
            "appender.file.name = File",
            f"appender.file.fileName = {log_file}",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = File",
            "",
        ]
    )


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaBrokerError("no `java` on PATH and no JAVA_HOME: Kafka needs Java 17+")
    return java


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return f"(no {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- readiness ---------------------------------------------------------------------------------


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _metadata_answers(bootstrap: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=PROBE_TIMEOUT_MS)
    try:
        await client.bootstrap()
        # A broker that answers but is not yet registered lists no brokers.
        return bool(client.cluster.brokers())
    except Exception:  # any failure means "not ready yet"; the caller retries until its deadline
        return False
    finally:
        await client.close()


def metadata_answers(bootstrap: str) -> bool:
    """True when a metadata request succeeds; safe to call from inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _metadata_answers(bootstrap)).result()


# --- the broker --------------------------------------------------------------------------------

_live_brokers: set[KafkaBroker] = set()
_live_brokers_lock = threading.Lock()


@atexit.register
def _stop_live_brokers() -> None:
    # A test session or script that forgets stop() must not leave a JVM behind.
    with _live_brokers_lock:
        brokers = list(_live_brokers)
    for broker in brokers:
        broker.stop()


class KafkaBroker:
    """One single-node KRaft broker process on 127.0.0.1, started and stopped by PID."""

    def __init__(
        self,
        *,
        port: int | None = None,
        cache_root: Path = CACHE_ROOT,
        keep_files: bool = False,
        start_timeout_s: float = START_TIMEOUT_S,
        stop_timeout_s: float = STOP_TIMEOUT_S,
        sasl_ssl: SaslSslListener | None = None,
    ) -> None:
        self._requested_port = port
        self._sasl_ssl = sasl_ssl
        self._sasl_ssl_port = 0
        self._cache_root = cache_root
        self._keep_files = keep_files
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._state = BrokerState.NEW
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0
        self._controller_port = 0
        self._run_dir: Path | None = None
        self._libs: Path | None = None

    @property
    def state(self) -> BrokerState:
        return self._state

    @property
    def bootstrap(self) -> str:
        if self._port == 0:
            raise KafkaBrokerError("the broker has not been started")
        return f"{HOST}:{self._port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        """The SASL_SSL listener's address (the broker must have been made with `sasl_ssl`)."""
        if self._sasl_ssl_port == 0:
            raise KafkaBrokerError("the broker has no SASL_SSL listener or has not been started")
        return f"{HOST}:{self._sasl_ssl_port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def is_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def run_dir(self) -> Path:
        if self._run_dir is None:
            raise KafkaBrokerError("the broker has not been started")
        return self._run_dir

    @property
    def log_path(self) -> Path:
        return self.run_dir / "logs" / "server.log"

    def start(self) -> str:
        """Fetch once, format a fresh run folder, launch, wait for metadata; return bootstrap."""
        self._require(BrokerState.NEW, action="start")
        self._libs = fetch_kafka(self._cache_root)
        self._port = self._requested_port or free_port()
        self._controller_port = free_port()
        if self._sasl_ssl is not None:
            self._sasl_ssl_port = free_port()
        self._run_dir = self._make_run_dir()
        self._write_config()
        self._format_storage()
        self._launch()
        return self.bootstrap

    def restart(self) -> str:
        """Shut down gracefully if running, then start again on the same ports and data."""
        self._require(BrokerState.RUNNING, BrokerState.DOWN, action="restart")
        if self._state is BrokerState.RUNNING:
            self.shutdown()
        self._launch()
        return self.bootstrap

    def shutdown(self) -> None:
        """SIGTERM (a controlled shutdown), SIGKILL after the timeout; files are kept."""
        self._require(BrokerState.RUNNING, action="shut down")
        self._end_process(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no controlled shutdown; files are kept for restart()."""
        self._require(BrokerState.RUNNING, action="kill")
        self._end_process(signal.SIGKILL)

    def stop(self) -> None:
        """End the process if any and remove the run folder (unless keep_files); idempotent."""
        if self._state is BrokerState.CLOSED:
            return
        if self._state is BrokerState.RUNNING:
            self._end_process(signal.SIGTERM)
        self._state = BrokerState.CLOSED
        if self._run_dir is not None and not self._keep_files:
            shutil.rmtree(self._run_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------------

    def _require(self, *allowed: BrokerState, action: str) -> None:
        if self._state not in allowed:
            raise KafkaBrokerError(f"cannot {action} a broker that is {self._state.value}")

    def _make_run_dir(self) -> Path:
        runs = self._cache_root / kafka_version() / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix=f"{self._port}-", dir=runs))
        (run_dir / "logs").mkdir()
        return run_dir

    def _write_config(self) -> None:
        run_dir = self.run_dir
        sasl_ssl = None if self._sasl_ssl is None else (self._sasl_ssl_port, self._sasl_ssl)
        properties = server_properties(
            self._port, self._controller_port, run_dir / "data", sasl_ssl
        )
        (run_dir / "server.properties").write_text(properties)
        (run_dir / "log4j2.properties").write_text(log4j_properties(self.log_path))

    def _java_command(self, options: Sequence[str], main_class: str) -> list[str]:
        if self._libs is None:
            raise KafkaBrokerError("the broker's jars have not been fetched")
        log_config = self.run_dir / "log4j2.properties"
        return [
            java_executable(),
            *options,
            f"-Dlog4j2.configurationFile={log_config}",
            *("-cp", f"{self._libs}/*", main_class),
        ]

    def _format_storage(self) -> None:
        config = self.run_dir / "server.properties"
        command = [
            *self._java_command(TOOL_JVM_OPTIONS, STORAGE_TOOL_CLASS),
            *("format", "--config", str(config), "--cluster-id", new_cluster_id()),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise KafkaBrokerError(f"formatting {self.run_dir / 'data'} failed:\n{output}")

    def _launch(self) -> None:
        config = self.run_dir / "server.properties"
        command = [*self._java_command(BROKER_JVM_OPTIONS, BROKER_MAIN_CLASS), str(config)]
        with (self.run_dir / "logs" / "jvm.log").open("ab") as jvm_log:
            # A session of its own: a Ctrl-C in the terminal reaches us, and we stop the JVM.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=jvm_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with _live_brokers_lock:
            _live_brokers.add(self)
        self._state = BrokerState.RUNNING
        try:
            self._wait_ready()
        except BaseException:
            self._end_process(signal.SIGKILL)
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            self._raise_if_exited()
            if self._ports_accept() and metadata_answers(self.bootstrap):
                return
            time.sleep(0.2)
        raise KafkaBrokerError(
            f"broker did not answer metadata within {self._start_timeout_s:.0f} s; "
            f"log tail:\n{_log_tail(self.log_path)}"
        )

    def _ports_accept(self) -> bool:
        ports = [self._port] + ([self._sasl_ssl_port] if self._sasl_ssl_port else [])
        return all(_port_accepts(port) for port in ports)

    def _raise_if_exited(self) -> None:
        if self._process is None or self._process.poll() is None:
            return
        code = self._process.returncode
        raise KafkaBrokerError(
            f"broker exited with status {code} while starting; log tail:\n"
            f"{_log_tail(self.log_path)}\njvm output:\n{_log_tail(self.run_dir / 'logs/jvm.log')}"
        )

    def _end_process(self, first_signal: signal.Signals) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(first_signal)
            try:
                process.wait(timeout=self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=self._stop_timeout_s)
        self._process = None
        self._state = BrokerState.DOWN
        with _live_brokers_lock:
            _live_brokers.discard(self)


# --- command line ------------------------------------------------------------------------------


def _parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m betting.devtools.kafka_broker",
        description="Run a single-node Apache Kafka broker on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=None, help="client port (default: a free one)")
    parser.add_argument("--keep-files", action="store_true", help="keep data and logs on exit")
    parser.add_argument("--fetch-only", action="store_true", help="fetch the jars and exit")
    parser.add_argument(
        "--sasl-ssl-user",
        metavar="NAME:PASSWORD",
        help="also listen with SASL_SSL (PLAIN, a throwaway CA), as Confluent Cloud does",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    arguments = _parse_arguments(argv)
    if arguments.fetch_only:
        print(f"kafka jars: {fetch_kafka()}")
        return 0
    stop_requested = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    with tempfile.TemporaryDirectory(prefix="kafka-tls-") as tls_folder:
        sasl_ssl, ca_file = _sasl_ssl_listener(arguments.sasl_ssl_user, Path(tls_folder))
        broker = KafkaBroker(
            port=arguments.port, keep_files=arguments.keep_files, sasl_ssl=sasl_ssl
        )
        return _run_until_stopped(broker, stop_requested, ca_file)


def _sasl_ssl_listener(
    user: str | None, tls_folder: Path
) -> tuple[SaslSslListener | None, Path | None]:
    """The listener and the CA file its clients trust; neither without --sasl-ssl-user."""
    if user is None:
        return None, None
    from betting.devtools.certificates import make_local_authority

    name, colon, password = user.partition(":")
    if not (name and colon and password):
        raise SystemExit("--sasl-ssl-user: expected NAME:PASSWORD")
    authority = make_local_authority(tls_folder)
    return SaslSslListener(authority.keystore_file, {name: password}), authority.ca_file


def _run_until_stopped(
    broker: KafkaBroker, stop_requested: threading.Event, ca_file: Path | None
) -> int:
    with broker:
        print(f"KAFKA_BOOTSTRAP={broker.bootstrap}", flush=True)
        if ca_file is not None:
            print(f"SASL_SSL bootstrap: {broker.sasl_ssl_bootstrap}", flush=True)
            print(f"BETTING_KAFKA__SSL_CA_FILE={ca_file}", flush=True)
        print(f"kafka {kafka_version()} log: {broker.log_path}", file=sys.stderr, flush=True)
        while not stop_requested.wait(timeout=1.0):
            if not broker.is_alive():
                print("kafka broker exited unexpectedly", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
