"""The local Ably-compatible edge: realtime websocket and REST on one port."""

from betting.edge.local.edge import LocalEdge
from betting.edge.local.settings import EdgeKey, LocalEdgeSettings

__all__ = ["EdgeKey", "LocalEdge", "LocalEdgeSettings"]
