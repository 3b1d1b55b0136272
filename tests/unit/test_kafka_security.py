"""TLS and SASL settings reach every Kafka client the same way (kafka-python, aiokafka and faust)."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from hub.errors import ConfigError
from hub.log.kafka_security import aiokafka_options, faust_credentials, kafka_python_options
from hub.settings import Settings


def test_plaintext_adds_nothing() -> None:
    assert kafka_python_options(Settings()) == {}
    assert aiokafka_options(Settings()) == {}
    assert faust_credentials(Settings()) is None


def test_sasl_ssl_passes_ca_mechanism_and_a_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("s3cret-from-file\n")
    settings = Settings(
        kafka_security_protocol="sasl_ssl",
        kafka_sasl_mechanism="scram-sha-256",
        kafka_sasl_username="hub",
        kafka_sasl_password_file=secret,
        kafka_ssl_check_hostname=False,
    )
    assert kafka_python_options(settings) == {
        "security_protocol": "SASL_SSL",
        "ssl_cafile": None,
        "ssl_certfile": None,
        "ssl_keyfile": None,
        "ssl_check_hostname": False,
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "hub",
        "sasl_plain_password": "s3cret-from-file",
    }
    consumer = aiokafka_options(settings)
    assert isinstance(consumer.pop("ssl_context"), ssl.SSLContext)
    assert consumer == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "hub",
        "sasl_plain_password": "s3cret-from-file",
    }
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "hub" and credentials.password == "s3cret-from-file"
    assert isinstance(credentials.ssl_context, ssl.SSLContext) and str(credentials.protocol).endswith("SASL_SSL")


def test_ssl_alone_gives_faust_an_ssl_context() -> None:
    settings = Settings(kafka_security_protocol="SSL")
    assert kafka_python_options(settings)["security_protocol"] == "SSL"
    assert set(aiokafka_options(settings)) == {"security_protocol", "ssl_context"}
    assert isinstance(faust_credentials(settings), faust.SSLCredentials)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"kafka_security_protocol": "TLS"}, "HUB_KAFKA_SECURITY_PROTOCOL"),
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "hub"}, "KAFKA_SASL_PASSWORD"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT"}, "HUB_KAFKA_SASL_USERNAME"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI", "kafka_sasl_username": "x"},
            "MECHANISM",
        ),
    ],
)
def test_incomplete_or_unknown_settings_are_refused_naming_the_variable(changes: dict[str, str], says: str) -> None:
    for options in (kafka_python_options, aiokafka_options):
        with pytest.raises(ConfigError, match=says):
            options(Settings.model_validate(changes))
