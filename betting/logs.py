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


def configure(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
