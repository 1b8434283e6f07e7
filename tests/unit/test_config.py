from __future__ import annotations

from pathlib import Path

import pytest

from betting import config
from betting.config import ConfigError, EventLogKind
from betting.domain.model import FavourablePolicy

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_loads_and_matches_the_defaults() -> None:
    assert config.load(REPO / "config.toml", environ={}) == config.Settings()


def test_environment_overrides_a_key(tmp_path: Path) -> None:
    settings = config.load(
        write(tmp_path, "[server]\nport = 8080\n"),
        environ={
            "BETTING_SERVER__PORT": "9001",
            "BETTING_EVENT_LOG__KIND": "kafka",
            "BETTING_RISK__FAVOURABLE_POLICY": "seen_price",
            "UNRELATED": "x",
        },
    )
    assert settings.server.port == 9001
    assert settings.event_log.kind is EventLogKind.KAFKA
    assert settings.risk.favourable_policy is FavourablePolicy.SEEN_PRICE


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("[server]\nprot = 1\n", {}, "server.prot: unknown key"),
        ("[nope]\nx = 1\n", {}, "nope: unknown key"),
        ('[server]\nport = "80"\n', {}, "server.port: expected an integer"),
        ("[server]\nport = 70000\n", {}, "server.port: expected an integer in [0, 65535]"),
        ("[server]\nport = 1.5\n", {}, "server.port: expected an integer"),
        ("[server]\nport = true\n", {}, "server.port: expected an integer"),
        ('[event_log]\nkind = "redis"\n', {}, "event_log.kind: expected one of"),
        ("", {"BETTING_SERVER__PORT": "eighty"}, "server.port: expected an integer"),
        ("", {"BETTING_ENGINE__BATCH_MAX": "0"}, "engine.batch_max: expected an integer in"),
        ("server = 3\n", {}, "server: expected a table"),
        ("[server\n", {}, "not valid TOML"),
        (
            "[risk]\nstake_min_minor = 500\nstake_max_minor = 100\n",
            {},
            "stake_min_minor must be at least 1 and at most stake_max_minor",
        ),
    ],
)
def test_bad_settings_stop_start_up_naming_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        config.load(write(tmp_path, text), environ=environ)
    assert message in str(error.value)


def test_secrets_stay_out_of_repr_and_redacted_output(tmp_path: Path) -> None:
    settings = config.load(
        write(tmp_path, ""),
        environ={"BETTING_KAFKA__SASL_PASSWORD": "hunter2", "BETTING_KAFKA__SASL_USERNAME": "k"},
    )
    assert settings.kafka.sasl_password == "hunter2"
    assert "hunter2" not in repr(settings)
    assert config.redacted(settings)["kafka"]["sasl_password"] == "***"
