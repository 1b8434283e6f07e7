"""Typed, frozen settings of the local Ably-compatible edge."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_CAPABILITIES = '{"*":["*"]}'


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeKey:
    """An API key `name:secret` and the capability JSON it grants."""

    key: str
    capability: str = ALL_CAPABILITIES

    def __post_init__(self) -> None:
        name, separator, secret = self.key.partition(":")
        if not (name and separator and secret):
            raise ValueError(f"edge key must look like 'name:secret', got name {name!r}")

    @property
    def name(self) -> str:
        return self.key.partition(":")[0]

    @property
    def secret(self) -> str:
        return self.key.partition(":")[2]


def _default_keys() -> tuple[EdgeKey, ...]:
    return (EdgeKey(key="local.root:local-root-secret"),)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalEdgeSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    keys: tuple[EdgeKey, ...] = field(default_factory=_default_keys)
    history_per_channel: int = 1000
    # History is also bounded by bytes and by age: Ably keeps messages 2 minutes when
    # persistence is off, which is what resume (connectionStateTtl) and rewind need.
    history_bytes_per_channel: int = 4 * 1024 * 1024
    history_retention_ms: int = 120_000
    # Ably advises channel names under 2,048 characters; here that is the limit. Ably's
    # default limit of channels per connection is 200.
    channel_name_max_chars: int = 2048
    channels_per_connection_max: int = 200
    # Clients may not make channels past this many in all (40114, as an Ably account's
    # channel limit); the server's own publishes always may.
    channels_max: int = 200_000
    # An HTTP request (or the websocket upgrade) must arrive whole within this, and an
    # idle keep-alive connection is closed after it.
    http_request_timeout_ms: int = 10_000
    dedupe_ids_per_channel: int = 10_000
    connection_state_ttl_ms: int = 120_000
    max_idle_interval_ms: int = 15_000
    heartbeat_interval_ms: int = 5_000
    max_message_size: int = 65_536
    max_frame_size: int = 262_144
    max_http_body_size: int = 262_144
    publish_rate_per_second: float = 500.0
    inbound_queue_max: int = 256
    # A client publish is answered within this, kept or not: past it, one its channel's
    # handler has not finished (bets-in, with the log unreachable) is NACKed with 50003, a
    # retryable error, well before the SDKs' own request timeout (realtimeRequestTimeout, 10 s).
    publish_timeout_ms: int = 5_000
    outbound_queue_max_bytes: int = 4 * 1024 * 1024
    token_ttl_ms_default: int = 3_600_000
    token_ttl_ms_max: int = 86_400_000
    # A TokenRequest is exchanged once, within this far of the edge's clock (Ably does not
    # publish its own window); the nonces remembered for that are capped.
    token_request_window_ms: int = 600_000
    token_request_nonces_max: int = 100_000
    # An open connection is asked to renew its token this long before expiry (at most half
    # the token's remaining life), and is disconnected with 40142 when it expires.
    token_renew_lead_ms: int = 30_000
    history_page_max: int = 1000
    # Channel `rewind`, bounded as Ably bounds it: at most 100 messages, and no further back
    # than a channel's persistence period, 2 minutes when persisted history is off.
    rewind_messages_max: int = 100
    rewind_window_ms_max: int = 120_000
    # Open realtime connections at once; past it a new one is refused with 40111, as an Ably
    # account's connection limit is (the process's file descriptors must allow this many).
    connections_max: int = 50_000
    # Resumable connections are bounded too: the oldest disconnected one is forgotten first.
    disconnected_connections_max: int = 100_000

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("LocalEdgeSettings.keys: at least one key is needed")
        if self.heartbeat_interval_ms >= self.max_idle_interval_ms:
            raise ValueError(
                "LocalEdgeSettings.heartbeat_interval_ms must be below max_idle_interval_ms"
            )
        if self.history_retention_ms < self.rewind_window_ms_max:
            raise ValueError(
                "LocalEdgeSettings.history_retention_ms must cover rewind_window_ms_max"
            )
        positive = (
            "history_per_channel",
            "history_bytes_per_channel",
            "channel_name_max_chars",
            "channels_per_connection_max",
            "channels_max",
            "connections_max",
            "http_request_timeout_ms",
            "max_message_size",
            "outbound_queue_max_bytes",
            "publish_timeout_ms",
            "rewind_messages_max",
            "rewind_window_ms_max",
            "token_request_window_ms",
            "token_request_nonces_max",
            "token_renew_lead_ms",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"LocalEdgeSettings.{name} must be positive")

    def key_named(self, name: str) -> EdgeKey | None:
        return next((key for key in self.keys if key.name == name), None)
