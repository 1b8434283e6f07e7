"""Command line: serve, edge, bench, simulate."""

from __future__ import annotations

import importlib
import logging
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m betting {serve|edge|bench NAME|simulate}", file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        return run_serve()
    if command == "bench":
        return run_bench(rest)
    print(f"unknown command: {command}", file=sys.stderr)
    return 2


def run_serve() -> int:
    import asyncio

    from betting import app, config, logs

    try:
        settings = config.load()
    except config.ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.server.log_level)
    try:
        asyncio.run(app.serve(settings))
    except Exception:
        logging.getLogger("betting").exception("a task failed; stopping")
        return 1
    return 0


def run_bench(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m betting bench {engine|pipeline|fanout|all}", file=sys.stderr)
        return 2
    # bench/ lives beside the package: `python -m` puts the working directory on sys.path.
    module = importlib.import_module(f"bench.{argv[0]}")
    result: int = module.main(argv[1:])
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
