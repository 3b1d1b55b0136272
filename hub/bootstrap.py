"""The composition root: every adapter is built here from settings, nothing at import time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine

from hub.log.codec import EventCodec
from hub.log.dead_letters import DeadLetters
from hub.log.kafka_log import KafkaEventLog
from hub.log.kafka_source import KafkaRecordSource
from hub.log.schema_registry import HttpSchemaRegistry
from hub.log.schemas import SchemaSet
from hub.ports import Projection, TopicPartition, Upstream
from hub.runtime.connector_runtime import ConnectorRunner
from hub.runtime.projection_runner import ProjectionRunner
from hub.settings import Settings
from hub.store.connector_state import ConnectorStateStore
from hub.store.sql_store import make_engine as _engine
from hub.store.sql_store import migrate

__all__ = [
    "make_codec",
    "make_connector_runner",
    "make_engine",
    "make_log_end",
    "make_projection_runner",
    "make_schemas",
]


def make_schemas(settings: Settings) -> SchemaSet:
    return SchemaSet(settings.schemas_dir)


def make_codec(settings: Settings, schemas: SchemaSet | None = None) -> EventCodec:
    """Single-object Avro, or Confluent framing when HUB_SCHEMA_REGISTRY_URL is set."""
    schemas = schemas or make_schemas(settings)
    if settings.schema_registry_url:
        registry = HttpSchemaRegistry(settings.schema_registry_url, settings.schema_registry_timeout_s)
        return EventCodec(schemas, registry, subject=f"{settings.dossier_topic}-value")
    return EventCodec(schemas)


def make_engine(settings: Settings, *, writer: bool = True) -> Engine:
    """The read store's engine, migrated to the newest hub schema."""
    engine = _engine(settings.database_url, writer=writer)
    if writer:
        migrate(engine)
    return engine


def make_connector_runner(upstream: Upstream, settings: Settings, log: KafkaEventLog) -> ConnectorRunner:
    """A connector over ``upstream``: events and dead letters go through ``log``, state to the read store."""
    store = ConnectorStateStore(make_engine(settings))
    return ConnectorRunner(upstream, log, DeadLetters(log, settings.dead_letter_topic), store, settings)


def make_projection_runner(
    settings: Settings,
    log: KafkaEventLog,
    engine: Engine,
    projections: Sequence[Projection],
    *,
    name: str,
    rebuild_generation: int | None = None,
) -> ProjectionRunner:
    """``projections`` over ``engine``, decoding with ``log``'s codec and parking what it cannot decode."""
    return ProjectionRunner(
        engine,
        log.codec,
        DeadLetters(log, settings.dead_letter_topic),
        projections,
        name=name,
        rebuild_generation=rebuild_generation,
    )


def make_log_end(settings: Settings, topic: str | None = None) -> Callable[[], dict[TopicPartition, int]]:
    """Reads a topic's end offsets when called (default the dossier topic: a policy's first marks)."""

    def read() -> dict[TopicPartition, int]:
        source = KafkaRecordSource(settings, [topic or settings.dossier_topic], from_beginning=False)
        try:
            return source.end_offsets()
        finally:
            source.close()

    return read
