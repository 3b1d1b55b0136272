"""The Kafka adapter's writing side, kafka-python: topic admin and the event log (producer).

Producer: acks=all and idempotence (HUB_KAFKA_IDEMPOTENCE), key = dossier code so one dossier's
events stay in order on one partition. The reading side is hub.log.kafka_source.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from hub.domain.events import Event
from hub.errors import UpstreamError
from hub.log.codec import EventCodec
from hub.log.kafka_security import kafka_python_options
from hub.ports import Headers
from hub.settings import Settings

__all__ = ["KafkaEventLog", "TopicSpec", "ensure_topics", "hub_topics"]

log = logging.getLogger(__name__)

# The log is the system of record for the hub: keep it until an operator decides otherwise.
_KEEP_FOREVER = {"retention.ms": "-1", "cleanup.policy": "delete"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    configs: Mapping[str, str] = field(default_factory=dict)


def hub_topics(settings: Settings) -> list[TopicSpec]:
    """The topics the hub owns, sized from settings."""
    return [
        TopicSpec(settings.dossier_topic, settings.topic_partitions, settings.topic_replication, _KEEP_FOREVER),
        TopicSpec(settings.dead_letter_topic, 1, settings.topic_replication, _KEEP_FOREVER),
    ]


def ensure_topics(settings: Settings, specs: Sequence[TopicSpec]) -> dict[str, str]:
    """Create missing topics; return what happened to each (``created`` / ``exists``)."""
    try:
        admin = KafkaAdminClient(
            **kafka_python_options(settings),
            bootstrap_servers=settings.kafka_bootstrap,
            request_timeout_ms=settings.kafka_request_timeout_ms,
            bootstrap_timeout_ms=settings.kafka_bootstrap_timeout_ms,
            client_id="motcua-hub-admin",
        )
    except KafkaError as exc:
        raise UpstreamError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    outcome: dict[str, str] = {}
    try:
        existing = set(admin.list_topics())
        for spec in specs:
            if spec.name in existing:
                outcome[spec.name] = "exists"
                continue
            topic = NewTopic(spec.name, spec.partitions, spec.replication, topic_configs=dict(spec.configs))
            try:
                admin.create_topics([topic], timeout_ms=settings.kafka_request_timeout_ms)
                outcome[spec.name] = "created"
            except TopicAlreadyExistsError:  # another instance won the race
                outcome[spec.name] = "exists"
    except KafkaError as exc:
        raise UpstreamError(f"Kafka refused topic administration: {exc}") from exc
    finally:
        admin.close()
    return outcome


class KafkaEventLog:
    """EventLog and RecordSink over one idempotent producer."""

    def __init__(self, settings: Settings, codec: EventCodec) -> None:
        self.settings = settings
        self.codec = codec
        try:
            self._producer = KafkaProducer(
                **kafka_python_options(settings),
                bootstrap_servers=settings.kafka_bootstrap,
                acks="all",
                enable_idempotence=settings.kafka_idempotence,
                linger_ms=20,
                batch_size=256 * 1024,
                compression_type="gzip",
                request_timeout_ms=settings.kafka_request_timeout_ms,
                bootstrap_timeout_ms=settings.kafka_bootstrap_timeout_ms,
                client_id="motcua-hub",
            )
        except KafkaError as exc:
            raise UpstreamError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc

    def headers_for(self, event: Event) -> list[tuple[str, bytes]]:
        return [
            ("event_type", event.event_type.value.encode()),
            ("event_id", event.id_text.encode()),
            ("schema", self.codec.schema_ref().encode()),
            ("source_system", event.source_system.value.encode()),
        ]

    def append(self, events: Sequence[Event]) -> None:
        """Encode and send; returns when every event is acknowledged by all in-sync replicas."""
        futures = [
            self._producer.send(
                self.settings.dossier_topic,
                key=event.dossier_code.encode("utf-8"),
                value=self.codec.encode(event),
                headers=self.headers_for(event),
            )
            for event in events
        ]
        self._wait(futures)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        """Send one record and wait for it. kafka-python refuses a header without a value: sent empty."""
        sendable = [(k, b"" if v is None else v) for k, v in headers]
        self._wait([self._producer.send(topic, key=key, value=value, headers=sendable)])

    def flush(self) -> None:
        self._producer.flush(timeout=self.settings.kafka_request_timeout_ms / 1000)

    def _wait(self, futures: list[object]) -> None:
        self.flush()
        timeout = self.settings.kafka_request_timeout_ms / 1000
        for future in futures:
            try:
                future.get(timeout=timeout)  # type: ignore[attr-defined]
            except KafkaError as exc:
                raise UpstreamError(f"Kafka did not acknowledge a write: {exc}") from exc

    def close(self) -> None:
        self._producer.close(timeout=self.settings.kafka_request_timeout_ms / 1000)
