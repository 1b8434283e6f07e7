"""What the HTTP handlers reach: set once the event log is open (until then, 503)."""

from __future__ import annotations

from dataclasses import dataclass

from betting.config import Settings
from betting.history.store import HistoryStore
from betting.log.port import Producer
from betting.tasks.views import Views


@dataclass
class Services:
    settings: Settings
    producer: Producer | None = None
    views: Views | None = None
    edge_port: int | None = None  # the local edge's bound port (it may have asked for 0)
    history: HistoryStore | None = None  # the history database, unless history.kind = none
