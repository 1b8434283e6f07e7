"""A real PostgreSQL server from Debian's packages, for development, tests and CI.

PostgreSQL refuses to run as root, so as root (as CI runs) the server runs as the system user
`betting-pg`, made when missing; as anyone else, as that user. Each server gets a temporary
folder of its own (data, socket, log), a free port on 127.0.0.1 and a superuser `betting`
with a random password (SCRAM over TCP, as production would), and is removed when stopped.

    with PostgresServer() as server:
        server.dsn                          # postgresql://betting:<password>@127.0.0.1:<port>/postgres
        server.create_database("name")      # -> that database's DSN
        server.shutdown(); server.restart() # an outage: same port, same data

`python -m betting.devtools.postgres_server` runs one in the foreground (`apt-get install
postgresql` first: `make system` does).
"""

from __future__ import annotations

import argparse
import atexit
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from pathlib import Path

from betting.devtools.kafka_broker import free_port

HOST = "127.0.0.1"
SYSTEM_USER = "betting-pg"
SUPERUSER = "betting"
POSTGRES_ROOT = Path("/usr/lib/postgresql")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 120.0
LOG_TAIL_CHARS = 4_000
# A test server: fsync off spares the shared disk (the server itself is never killed in the
# tests; a killed client's transactions are atomic either way).
SERVER_OPTIONS = ("-c", "fsync=off", "-c", "max_connections=50", "-c", "shared_buffers=32MB")


class PostgresServerError(RuntimeError):
    """The server could not be found, set up, started or stopped."""


def bin_dir() -> Path:
    """The newest installed server's programs (Debian keeps them per major version)."""
    override = os.environ.get("POSTGRES_BIN")
    if override:
        return Path(override)
    versions = sorted(
        (path for path in POSTGRES_ROOT.glob("*/bin") if (path / "initdb").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresServerError(
            f"no PostgreSQL server under {POSTGRES_ROOT}: apt-get install postgresql"
        )
    return versions[-1]


def server_user() -> str | None:
    """Who runs the server: None for ourselves, or the system user when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             SYSTEM_USER],
            check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S,
        )  # fmt: skip
    return SYSTEM_USER


_live: set[PostgresServer] = set()


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_live):
        server.stop()


class PostgresServer:
    def __init__(self) -> None:
        self.port = 0
        self.password = secrets.token_hex(16)
        self._bin = bin_dir()
        self._user = server_user()
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@{HOST}:{self.port}/{database}"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: types.TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        folder = Path(tempfile.mkdtemp(prefix="betting-postgres-"))
        self._folder = folder
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        folder.chmod(0o700)
        password_file = folder / "password"
        password_file.write_text(self.password + "\n")
        if self._user is not None:
            os.chown(password_file, pwd.getpwnam(self._user).pw_uid, -1)
        self._run(
            str(self._bin / "initdb"),
            *("-D", str(folder / "data"), "-U", SUPERUSER, f"--pwfile={password_file}"),
            *("--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8"),
            *("--locale=C", "--no-sync"),
        )
        password_file.unlink()
        self.port = free_port()
        self._launch()
        return self.dsn

    def _launch(self) -> None:
        assert self._folder is not None
        folder = self._folder
        log = (folder / "server.log").open("ab")
        self._process = subprocess.Popen(
            [str(self._bin / "postgres"), "-D", str(folder / "data"), "-p", str(self.port),
             "-k", str(folder), "-c", f"listen_addresses={HOST}", *SERVER_OPTIONS],
            stdout=log, stderr=subprocess.STDOUT, user=self._user, start_new_session=True,
        )  # fmt: skip
        log.close()
        _live.add(self)
        self._wait_ready()

    def shutdown(self) -> None:
        """Stop the server, keeping its data and port: an outage, ended by `restart`."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        self.shutdown()
        self._launch()

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            command, capture_output=True, user=self._user, timeout=COMMAND_TIMEOUT_S, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise PostgresServerError(f"{' '.join(command)} failed:\n{output}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        ready = [str(self._bin / "pg_isready"), "-q", "-h", HOST, "-p", str(self.port)]
        while subprocess.run(ready, check=False, timeout=COMMAND_TIMEOUT_S).returncode != 0:
            if self._process is None or self._process.poll() is not None:
                raise PostgresServerError(f"postgres exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise PostgresServerError(f"postgres did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self) -> str:
        if self._folder is None or not (self._folder / "server.log").exists():
            return ""
        return (self._folder / "server.log").read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def create_database(self, name: str) -> str:
        """A new, empty database; its DSN."""
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise PostgresServerError(f"not a plain database name: {name!r}")
        self._run(
            str(self._bin / "psql"),
            *("-h", str(self._folder), "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres"),
            *("-v", "ON_ERROR_STOP=1", "-q", "-c", f'CREATE DATABASE "{name}"'),
        )
        return self.dsn_for(name)

    def stop(self) -> None:
        process, self._process = self._process, None
        _live.discard(self)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: clients cut, data flushed
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT_S)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m betting.devtools.postgres_server",
        description="Run a throw-away PostgreSQL server on 127.0.0.1 until Ctrl-C.",
    )
    parser.parse_args(argv)
    with PostgresServer() as server:
        print(f"BETTING_HISTORY__POSTGRES_DSN={server.dsn}", flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})  # blocked below: waited for here
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main(sys.argv[1:]))
