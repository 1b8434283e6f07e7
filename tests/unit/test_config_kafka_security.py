"""Kafka's security settings are checked at start-up, naming the key and never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from betting import config
from betting.config import ConfigError

SECRET_VALUE = "s3cr3t-never-shown"


def load(tmp_path: Path, **kafka: str) -> config.Settings:
    environ = {f"BETTING_KAFKA__{key.upper()}": value for key, value in kafka.items()}
    return config.load(tmp_path / "absent.toml", environ=environ)


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({"security_protocol": "SASL-SSL"}, "kafka.security_protocol: expected one of"),
        ({"security_protocol": "sasl_ssl"}, "kafka.security_protocol: expected one of"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "plain"},
            "kafka.sasl_mechanism: expected one of",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_password": SECRET_VALUE},
            "kafka.sasl_username: required with SASL_SSL",
        ),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_username": SECRET_VALUE},
            "kafka.sasl_password: required with SASL_PLAINTEXT",
        ),
        ({"ssl_ca_file": "/nonexistent/ca.pem"}, "kafka.ssl_ca_file: no such file"),
    ],
)
def test_bad_kafka_security_stops_start_up(
    tmp_path: Path, kafka: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load(tmp_path, **kafka)
    assert message in str(error.value)
    assert SECRET_VALUE not in str(error.value)


def test_the_confluent_cloud_settings_load(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="key",
        sasl_password=SECRET_VALUE,
    )
    assert settings.kafka.ssl_ca_file == ""  # the system's trust store
    assert SECRET_VALUE not in repr(settings)


def test_a_named_ca_file_is_kept(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    assert load(tmp_path, ssl_ca_file=str(ca_file)).kafka.ssl_ca_file == str(ca_file)
