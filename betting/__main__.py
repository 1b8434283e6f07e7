"""Command line: serve, edge, bench, simulate, sim."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from betting.config import Settings


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m betting {serve|edge|simulate|sim|bench NAME}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        return run_serve()
    if command == "edge":
        return run_edge()
    if command == "simulate":
        from betting import logs, simulate

        logs.configure("WARNING")  # JSON logs on stderr; the ably SDK held at WARNING
        return simulate.main(rest)
    if command == "bench":
        return run_bench(rest)
    if command == "sim":
        from betting.sim import cli

        return cli.main(rest)
    print(f"unknown command: {command}", file=sys.stderr)
    return 2


def load_settings() -> Settings | None:
    """The settings, with logging set up; None (and the reason on stderr) when they are bad."""
    from betting import config, logs

    try:
        settings = config.load()
    except config.ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return None
    logs.configure(settings.server.log_level)
    return settings


def run_serve() -> int:
    import asyncio

    from betting import app

    settings = load_settings()
    if settings is None:
        return 2
    try:
        asyncio.run(app.serve(settings))
    except Exception:
        logging.getLogger("betting").exception("a task failed; stopping")
        return 1
    return 0


def run_edge() -> int:
    """The local edge alone, for front-end work against it: `python -m betting edge`."""
    import asyncio
    import signal

    from betting.edge import build_edge

    settings = load_settings()
    if settings is None:
        return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with build_edge(settings.edge):
            logging.getLogger("betting.edge").info(
                "edge serving",
                extra={"fields": {"host": settings.edge.host, "port": settings.edge.port}},
            )
            await stop.wait()

    asyncio.run(run())
    return 0


def run_bench(argv: list[str]) -> int:
    if not argv:
        print(
            "usage: python -m betting bench {engine|pipeline|fanout|loop|calibration|all}",
            file=sys.stderr,
        )
        return 2
    # bench/ lives beside the package: `python -m` puts the working directory on sys.path.
    module = importlib.import_module(f"bench.{argv[0]}")
    result: int = module.main(argv[1:])
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
