"""One frozen, typed settings object, read from config.toml and the environment.

Every key can be overridden by `BETTING_<SECTION>__<KEY>` (for example
`BETTING_SERVER__PORT=9000`). An unknown key, a wrong type or an out-of-range value stops
start-up with a `ConfigError` that names the key and what was expected. Secrets are kept out of
`repr`, so printing the settings never leaks a key.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from betting.domain.deductions import (
    NO_DEDUCTIONS,
    TATTERSALLS_RULE_4,
    DeductionScale,
    parse_scale,
)
from betting.domain.errors import DomainError
from betting.domain.model import FavourablePolicy
from betting.domain.pricing import PricingParams
from betting.domain.risk import RiskParams

ENV_PREFIX = "BETTING_"


class ConfigError(Exception):
    pass


def _range(low: int, high: int) -> dict[str, Any]:
    return {"range": (low, high)}


SECRET: dict[str, Any] = {"secret": True}


class EventLogKind(enum.StrEnum):
    MEMORY = "memory"
    KAFKA = "kafka"


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class HistoryKind(enum.StrEnum):
    NONE = "none"  # no history database: the sink does not run
    SQLITE = "sqlite"  # a file: the embedded default
    POSTGRES = "postgres"  # production


class EdgeKind(enum.StrEnum):
    LOCAL = "local"
    ABLY = "ably"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_range(0, 65535))
    log_level: LogLevel = LogLevel.INFO
    shutdown_grace_ms: int = field(default=10_000, metadata=_range(0, 600_000))


@dataclass(frozen=True)
class PricingSettings:
    margin_bp: int = field(default=500, metadata=_range(0, 5_000))
    prior_pool_minor: int = field(default=10_000_000, metadata=_range(1, 10**15))
    money_weight_bp: int = field(default=10_000, metadata=_range(0, 1_000_000))
    liability_weight_bp: int = field(default=5_000, metadata=_range(0, 1_000_000))
    liability_reference_minor: int = field(default=1_000_000, metadata=_range(1, 10**15))
    in_play_step_ticks: int = field(default=3, metadata=_range(1, 1_000))
    in_play_jump_bp: int = field(default=1_000, metadata=_range(1, 10_000))
    in_play_suspend_ms: int = field(default=1_000, metadata=_range(0, 60_000))

    def params(self, margin_bp: int | None = None) -> PricingParams:
        values = dataclasses.asdict(self)
        if margin_bp is not None:
            values["margin_bp"] = margin_bp
        return PricingParams(**values)


@dataclass(frozen=True)
class RiskSettings:
    stake_min_minor: int = field(default=100, metadata=_range(1, 10**12))
    stake_max_minor: int = field(default=10_000_000, metadata=_range(1, 10**12))
    odds_tolerance_ticks: int = field(default=0, metadata=_range(0, 100))
    favourable_policy: FavourablePolicy = FavourablePolicy.BEST_PRICE
    late_window_ms: int = field(default=5_000, metadata=_range(0, 3_600_000))
    runner_liability_max_minor: int = field(default=500_000_000, metadata=_range(0, 10**15))
    race_liability_max_minor: int = field(default=1_000_000_000, metadata=_range(0, 10**15))
    version_history_max: int = field(default=100_000, metadata=_range(1, 10_000_000))
    in_play_bet_delay_ms: int = field(default=2_000, metadata=_range(0, 60_000))

    def params(self) -> RiskParams:
        return RiskParams(**dataclasses.asdict(self))


class DeductionScaleName(enum.StrEnum):
    TATTERSALLS_RULE_4 = "tattersalls_rule_4"  # Tattersalls' Rule 4(c), the default
    NONE = "none"  # a withdrawal deducts nothing
    CUSTOM = "custom"  # the bands of `deduction_bands`


@dataclass(frozen=True)
class SettlementSettings:
    """Rule 4: what a withdrawn runner takes from the winnings of bets struck before it."""

    deduction_scale: DeductionScaleName = DeductionScaleName.TATTERSALLS_RULE_4
    # deduction_scale = "custom": the bands, shortest price first, each the longest price
    # it covers as a fraction and its deduction in pence in the pound: "1/9:90 2/11:85 ...".
    deduction_bands: str = ""
    deduction_combined_cap_pence: int = field(default=90, metadata=_range(0, 100))

    def scale(self) -> DeductionScale:
        if self.deduction_scale is DeductionScaleName.NONE:
            return NO_DEDUCTIONS
        if self.deduction_scale is DeductionScaleName.CUSTOM:
            return parse_scale(self.deduction_bands, self.deduction_combined_cap_pence)
        return TATTERSALLS_RULE_4


@dataclass(frozen=True)
class EventLogSettings:
    kind: EventLogKind = EventLogKind.MEMORY


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"  # SASL_SSL for Confluent Cloud
    sasl_mechanism: str = "PLAIN"
    sasl_username: str = field(default="", repr=False, metadata=SECRET)
    sasl_password: str = field(default="", repr=False, metadata=SECRET)
    # The CA certificate (PEM) that signed the brokers' certificates, for SSL and SASL_SSL;
    # empty: the system's trust store, which is what Confluent Cloud's certificates need.
    ssl_ca_file: str = ""
    client_id: str = "betting"
    group_id: str = "betting-engine"
    transactional_id_prefix: str = "betting-engine"
    # Stable per instance (a pod ordinal, say) so a restart fences its own predecessor;
    # empty: a fresh random id per start, which never fences a live sibling.
    instance_id: str = ""
    partitions: int = field(default=6, metadata=_range(1, 10_000))
    replication_factor: int = field(default=1, metadata=_range(1, 10))
    request_timeout_ms: int = field(default=10_000, metadata=_range(100, 600_000))
    # How long the broker may hold a fetch that found nothing. Low, because a consumer does
    # not fetch again until its last answer is drained: this bounds how long a bet can wait.
    fetch_max_wait_ms: int = field(default=10, metadata=_range(1, 10_000))


@dataclass(frozen=True)
class TopicSettings:
    bets: str = "bets"
    races: str = "races"
    odds: str = "odds"
    bet_results: str = "bet-results"
    book_changelog: str = "book-changelog"
    dead_letters: str = "dead-letters"
    settlements: str = "settlements"
    users: str = "users"  # compacted: each user's notification preference
    command_results: str = "command-results"  # applied or refused, per race command


@dataclass(frozen=True)
class EngineSettings:
    odds_interval_ms: int = field(default=50, metadata=_range(0, 60_000))
    batch_max: int = field(default=2_000, metadata=_range(1, 1_000_000))
    batch_wait_ms: int = field(default=5, metadata=_range(0, 10_000))
    queue_max: int = field(default=10_000, metadata=_range(1, 10_000_000))
    race_tick_ms: int = field(default=250, metadata=_range(10, 10_000))  # in-play model step
    race_length_mm: int = field(default=1_000_000, metadata=_range(1_000, 100_000_000))


@dataclass(frozen=True)
class EdgeSettings:
    kind: EdgeKind = EdgeKind.LOCAL
    # The key the server signs bettors' token requests with and publishes with. The default
    # is the local edge's development key; set a real one from the environment.
    api_key: str = field(default="local.root:local-root-secret", repr=False, metadata=SECRET)
    bet_shards: int = field(default=4, metadata=_range(1, 1_000))
    token_ttl_ms: int = field(default=3_600_000, metadata=_range(60_000, 86_400_000))
    # The local edge (kind = "local"): where it listens, and its limits.
    host: str = "127.0.0.1"
    port: int = field(default=8081, metadata=_range(0, 65535))
    history_per_channel: int = field(default=1_000, metadata=_range(1, 1_000_000))
    publish_rate_per_second: int = field(default=500, metadata=_range(1, 1_000_000))
    # The local edge answers a bet within this: past it, one the log has not yet taken is
    # NACKed with 50003 (retryable) so the page can tell the bettor. Kept below the SDKs'
    # request timeout (10 s), or the client gives up first and never hears why.
    bet_publish_timeout_ms: int = field(default=5_000, metadata=_range(100, 9_000))
    # Real Ably (kind = "ably"): leave the endpoint empty for Ably itself, over TLS.
    ably_endpoint: str = ""
    ably_port: int = field(default=0, metadata=_range(0, 65535))
    ably_tls: bool = True
    # Real Ably: the channel `rewind` bets-in subscribes with, so bets published while the
    # server was down reach it on restart (Ably: at most 2 minutes and 100 per channel).
    ably_subscribe_rewind: str = "2m"


@dataclass(frozen=True)
class AdminSettings:
    # The operator's bearer token. The default is for a developer's machine only; set a real
    # one from the environment (BETTING_ADMIN__TOKEN).
    token: str = field(default="local-admin-token", repr=False, metadata=SECRET)
    body_max_bytes: int = field(default=65_536, metadata=_range(1_024, 10_485_760))
    starting_soon_lead_ms: int = field(default=60_000, metadata=_range(0, 86_400_000))
    # "Starting soon" also goes to the bettor's devices as an Ably push (push admin publish
    # to their clientId); with the local edge, pushes are kept for inspection, not sent.
    push_notices: bool = False
    # Recent command results the read model keeps for GET /admin/commands/{request_id}.
    command_results_max: int = field(default=10_000, metadata=_range(1, 1_000_000))


@dataclass(frozen=True)
class HistorySettings:
    """The history database (docs/history.md): bets, settlements, transfers, fed exactly once."""

    kind: HistoryKind = HistoryKind.SQLITE
    sqlite_path: str = "var/bet_history.sqlite3"  # relative to the working directory
    # postgresql://user:password@host:port/database; a secret (it may hold the password):
    # set BETTING_HISTORY__POSTGRES_DSN from a secret store.
    postgres_dsn: str = field(default="", repr=False, metadata=SECRET)
    batch_max: int = field(default=2_000, metadata=_range(1, 100_000))  # records per write


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    pricing: PricingSettings = field(default_factory=PricingSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    settlement: SettlementSettings = field(default_factory=SettlementSettings)
    event_log: EventLogSettings = field(default_factory=EventLogSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    edge: EdgeSettings = field(default_factory=EdgeSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    history: HistorySettings = field(default_factory=HistorySettings)


def load(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (default: config.toml beside the package, if present) and the environment."""
    data = _read_toml(Path(path) if path is not None else _default_path())
    _overlay_environment(data, os.environ if environ is None else environ)
    settings: Settings = _build(Settings, data, "")
    _check_cross_field(settings)
    return settings


def _default_path() -> Path:
    return Path(os.environ.get("BETTING_CONFIG", Path(__file__).parent.parent / "config.toml"))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error


def _overlay_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == "BETTING_CONFIG":
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(f"{section}: expected a table")
        data[section][key] = _EnvText(value)


class _EnvText(str):
    """A value from the environment: text that may be read as a number or a boolean."""


def _build(cls: type[Any], data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown key (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        kind = hints[name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            values[name] = _convert(f"{prefix}{name}", kind, value, fields[name].metadata)
    return cls(**values)


def _convert(key: str, kind: Any, value: Any, metadata: Mapping[str, Any]) -> Any:
    if isinstance(kind, types.UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        choices = [member.value for member in kind]
        if value not in choices:
            raise ConfigError(f"{key}: expected one of {choices}, got {value!r}")
        return kind(value)
    if kind is bool:
        return _to_bool(key, value)
    if kind is int:
        number = _to_int(key, value)
        low, high = metadata.get("range", (None, None))
        if low is not None and not low <= number <= high:
            raise ConfigError(f"{key}: expected an integer in [{low}, {high}], got {number}")
        return number
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__}")
        return str(value)
    raise ConfigError(f"{key}: unsupported setting type {kind!r}")


def _to_int(key: str, value: Any) -> int:
    if isinstance(value, _EnvText):
        try:
            return int(value.strip().replace("_", ""))
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if type(value) is not int:
        raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
    return value


def _to_bool(key: str, value: Any) -> bool:
    if isinstance(value, _EnvText) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.lower() in ("true", "1", "yes")
    if type(value) is not bool:
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _check_kafka_security(kafka: KafkaSettings) -> None:
    """Mistakes here would surface later as an aiokafka traceback or a login loop."""
    if kafka.security_protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(
            f"kafka.security_protocol: expected one of {list(SECURITY_PROTOCOLS)}, "
            f"got {kafka.security_protocol!r}"
        )
    if kafka.security_protocol.startswith("SASL"):
        if kafka.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"kafka.sasl_mechanism: expected one of {list(SASL_MECHANISMS)}, "
                f"got {kafka.sasl_mechanism!r}"
            )
        for key in ("sasl_username", "sasl_password"):  # the values are secrets: never shown
            if not getattr(kafka, key):
                raise ConfigError(f"kafka.{key}: required with {kafka.security_protocol}")
    if kafka.ssl_ca_file and not Path(kafka.ssl_ca_file).is_file():
        raise ConfigError(f"kafka.ssl_ca_file: no such file {kafka.ssl_ca_file!r}")


def _check_cross_field(settings: Settings) -> None:
    _check_kafka_security(settings.kafka)
    if settings.history.kind is HistoryKind.POSTGRES and not settings.history.postgres_dsn:
        raise ConfigError("history.postgres_dsn: required with history.kind = postgres")
    name, colon, secret = settings.edge.api_key.partition(":")
    if not (name and colon and secret):
        raise ConfigError("edge.api_key: expected 'name:secret'")
    try:
        settings.pricing.params()
        settings.risk.params()
    except DomainError as error:
        raise ConfigError(f"pricing/risk: {error}") from error
    try:
        settings.settlement.scale()
    except DomainError as error:
        raise ConfigError(f"settlement.deduction_bands: {error}") from error


def redacted(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret replaced, for logs and diagnostics."""
    redacted_settings: dict[str, Any] = _redact(settings)
    return redacted_settings


def _redact(value: Any) -> Any:
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    result: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        result[f.name] = "***" if f.metadata.get("secret") and item else _redact(item)
    return result
