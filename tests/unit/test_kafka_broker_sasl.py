"""The test broker's SASL_SSL listener settings, written without starting a JVM."""

from __future__ import annotations

from pathlib import Path

import pytest

from betting.devtools.kafka_broker import (
    KafkaBrokerError,
    SaslSslListener,
    sasl_ssl_properties,
    server_properties,
)

KEYSTORE = Path("/tmp/keystore.pem")


def parsed(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_the_listener_is_added_beside_plaintext() -> None:
    listener = SaslSslListener(KEYSTORE, {"alice": "pw-a", "bob": "pw-b"})
    settings = parsed(server_properties(9092, 9093, Path("/data"), (9094, listener)))
    assert settings["listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093"
    )
    assert (
        settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094"
    )
    assert "SASL_SSL:SASL_SSL" in settings["listener.security.protocol.map"].split(",")
    assert settings["inter.broker.listener.name"] == "PLAINTEXT"
    assert settings["listener.name.sasl_ssl.plain.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'user_alice="pw-a" user_bob="pw-b";'
    )
    assert settings["listener.name.sasl_ssl.ssl.keystore.type"] == "PEM"
    assert settings["listener.name.sasl_ssl.ssl.keystore.location"] == str(KEYSTORE)


def test_without_the_listener_nothing_of_it_is_written() -> None:
    text = server_properties(9092, 9093, Path("/data"))
    assert "SASL" not in text and "ssl." not in text


@pytest.mark.parametrize(
    "users",
    [{"alice": 'pw"x'}, {"alice": "pw;x"}, {"alice": "pw\\x"}, {"alice": "pw\nx"},
     {"al=ice": "pw"}, {"al ice": "pw"}, {"alice": ""}, {"": "pw"}],
)  # fmt: skip
def test_a_name_or_password_that_would_break_the_jaas_line_is_refused(
    users: dict[str, str],
) -> None:
    with pytest.raises(KafkaBrokerError):
        sasl_ssl_properties(9094, SaslSslListener(KEYSTORE, users))
