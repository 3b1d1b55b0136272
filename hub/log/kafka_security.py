"""TLS and SASL for the hub's Kafka clients, from settings (HUB_KAFKA_SECURITY_PROTOCOL and friends),
given the same way to kafka-python (producers, admin), aiokafka (consumers) and faust (monitors)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

from hub.errors import ConfigError
from hub.settings import Settings

__all__ = ["aiokafka_options", "faust_credentials", "kafka_python_options"]

_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _checked(settings: Settings) -> tuple[str, str | None]:
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in _PROTOCOLS:
        raise ConfigError(f"HUB_KAFKA_SECURITY_PROTOCOL {protocol!r}: want one of {', '.join(_PROTOCOLS)}")
    mechanism = None
    if protocol.startswith("SASL"):
        mechanism = settings.kafka_sasl_mechanism.upper()
        if mechanism not in _MECHANISMS:
            raise ConfigError(f"HUB_KAFKA_SASL_MECHANISM {mechanism!r}: want one of {', '.join(_MECHANISMS)}")
        if not settings.kafka_sasl_username:
            raise ConfigError(f"{protocol} needs HUB_KAFKA_SASL_USERNAME and HUB_KAFKA_SASL_PASSWORD(_FILE)")
    return protocol, mechanism


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer / KafkaAdminClient (nothing for PLAINTEXT)."""
    return _client_options(
        settings,
        lambda: {
            "ssl_cafile": str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            "ssl_certfile": str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            "ssl_keyfile": str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            "ssl_check_hostname": settings.kafka_ssl_check_hostname,
        },
    )


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's consumer (nothing for PLAINTEXT): the same settings, its spelling."""
    return _client_options(settings, lambda: {"ssl_context": _ssl_context(settings)})


def _client_options(settings: Settings, tls: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    protocol, mechanism = _checked(settings)
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        options |= tls()
    if mechanism:
        options |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": settings.kafka_sasl_password_value(),
        }
    return options


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None)
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None
        )
    return context


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for faust.App (None for PLAINTEXT)."""
    import faust

    protocol, mechanism = _checked(settings)
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if mechanism:
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password_value(),
            ssl_context=context,
            mechanism=mechanism,
        )
    return faust.SSLCredentials(context)
