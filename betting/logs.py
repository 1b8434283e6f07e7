"""Structured logs: one JSON object a line, quiet by default.

Fields passed as `extra={"fields": {...}}` are merged into the line. Third-party loggers that
print secrets or chatter (the ably SDK logs its websocket URL, key included, at INFO) are held at
WARNING whatever our own level is.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_NOISY = ("ably", "aiokafka", "kafka", "uvicorn", "uvicorn.access", "uvicorn.error", "websockets")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class RepeatFilter(logging.Filter):
    """Lets a warning or error through once per window: an outage must not flood the log (or
    block the event loop on a full stderr pipe) with the same retry message."""

    def __init__(self, window_s: float = 10.0, remembered_max: int = 1_000) -> None:
        super().__init__()
        self._window_s = window_s
        self._remembered_max = remembered_max
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # asked-for detail (INFO, DEBUG) is never thinned
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._window_s:
            return False
        if len(self._last) >= self._remembered_max:
            self._last.clear()
        self._last[key] = now
        return True


def configure(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
