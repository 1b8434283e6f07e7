"""The edge toward clients: one port (`port.py`), two adapters (local, and real Ably)."""

from __future__ import annotations

from betting.config import EdgeKind, EdgeSettings
from betting.edge.port import EdgePort


def build_edge(settings: EdgeSettings, *, hold_clients: bool = False) -> EdgePort:
    """`hold_clients`: a local edge lets clients in only at `admit_clients()`."""
    if settings.kind is EdgeKind.ABLY:
        from betting.edge.ably_adapter import AblyEdge, AblySettings

        return AblyEdge(
            AblySettings(
                key=settings.api_key,
                endpoint=settings.ably_endpoint or None,
                port=settings.ably_port or None,
                tls=settings.ably_tls,
                subscribe_rewind=settings.ably_subscribe_rewind or None,
            )
        )
    from betting.edge.local.edge import LocalEdge
    from betting.edge.local.settings import EdgeKey, LocalEdgeSettings

    return LocalEdge(
        LocalEdgeSettings(
            host=settings.host,
            port=settings.port,
            keys=(EdgeKey(key=settings.api_key),),
            history_per_channel=settings.history_per_channel,
            publish_rate_per_second=float(settings.publish_rate_per_second),
            publish_timeout_ms=settings.bet_publish_timeout_ms,
            token_ttl_ms_max=max(settings.token_ttl_ms, 86_400_000),
        ),
        hold_clients=hold_clients,
    )
