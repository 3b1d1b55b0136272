"""The Kafka adapter: topic admin, the event log (producer) and a record source (consumer), kafka-python.

Producer: acks=all and idempotence (HUB_KAFKA_IDEMPOTENCE), key = dossier code so one dossier's
events stay in order on one partition. Consumer: auto-commit off; callers commit what they have
durably applied, or seek to offsets they stored themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KafkaTopicPartition

from hub.codec import EventCodec
from hub.errors import UpstreamError
from hub.events import Event
from hub.kafka_security import kafka_python_options
from hub.ports import Headers, Record, TopicPartition
from hub.settings import Settings

__all__ = ["KafkaEventLog", "KafkaRecordSource", "TopicSpec", "ensure_topics", "follow", "hub_topics"]

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
            ("event_id", str(event.event_id).encode()),
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
        self._wait([self._producer.send(topic, key=key, value=value, headers=list(headers))])

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


class _AssignmentHook(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_assign: Callable[[list[TopicPartition]], None]) -> None:
        self.on_assign = on_assign

    def on_partitions_revoked(self, revoked: object) -> None:
        """Nothing to flush: every applied batch is already committed with its offsets."""

    def on_partitions_assigned(self, assigned: Sequence[KafkaTopicPartition]) -> None:
        self.on_assign([(tp.topic, tp.partition) for tp in assigned])


class KafkaRecordSource:
    """RecordSource over a KafkaConsumer: a consumer group (split partitions, commits) or, without a
    group, every partition (or the ``partitions`` given) assigned directly (``hub events tail``, rebuilds,
    standalone runners that split the partitions between them by configuration).

    ``on_assign`` runs whenever partitions are (re)assigned, before records of them are returned:
    the place to seek to positions stored elsewhere (a projection's own offsets).
    """

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        *,
        group_id: str | None = None,
        from_beginning: bool = True,
        session_timeout_ms: int | None = None,
        on_assign: Callable[[list[TopicPartition]], None] | None = None,
        partitions: Sequence[int] | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        session_timeout_ms = session_timeout_ms or settings.kafka_session_timeout_ms
        try:
            self._consumer = KafkaConsumer(
                **kafka_python_options(settings),
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest" if from_beginning else "latest",
                request_timeout_ms=max(settings.kafka_request_timeout_ms, session_timeout_ms + 5000),
                session_timeout_ms=session_timeout_ms,
                heartbeat_interval_ms=max(session_timeout_ms // 6, 500),
                bootstrap_timeout_ms=settings.kafka_bootstrap_timeout_ms,
                client_id="motcua-hub",
            )
            if group_id is not None:
                listener = _AssignmentHook(on_assign) if on_assign else None
                self._consumer.subscribe(list(topics), listener=listener)
            else:
                assigned = [
                    KafkaTopicPartition(topic, p)
                    for topic in topics
                    for p in sorted(self._consumer.partitions_for_topic(topic) or ())
                    if partitions is None or p in partitions
                ]
                if not assigned:
                    raise UpstreamError(f"no partitions found for {', '.join(topics)} (create the topics first)")
                self._consumer.assign(assigned)
                if from_beginning:
                    self._consumer.seek_to_beginning()
                else:
                    self._consumer.seek_to_end()
                if on_assign:
                    on_assign([(tp.topic, tp.partition) for tp in assigned])
        except KafkaError as exc:
            raise UpstreamError(f"cannot consume from Kafka at {settings.kafka_bootstrap}: {exc}") from exc

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as exc:
            raise UpstreamError(f"Kafka poll failed: {exc}") from exc
        records = [
            Record(
                topic=m.topic,
                partition=m.partition,
                offset=m.offset,
                key=m.key,
                value=m.value,
                headers=tuple([(k, v or b"") for k, v in m.headers]) if m.headers else (),
                timestamp_ms=m.timestamp,
            )
            for batch in batches.values()
            for m in batch
        ]
        records.sort(key=lambda r: (r.topic, r.partition, r.offset))
        return records

    def assignment(self) -> set[TopicPartition]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def commit(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offsets to read (last applied + 1), per partition."""
        if not next_offsets:
            return
        offsets = {
            KafkaTopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in next_offsets.items()
        }
        try:
            self._consumer.commit(offsets)
        except KafkaError as exc:
            raise UpstreamError(f"Kafka offset commit failed: {exc}") from exc

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self._consumer.seek(KafkaTopicPartition(topic, partition), offset)

    def seek_to_beginning(self, partitions: Sequence[TopicPartition] | None = None) -> None:
        if partitions is None:
            self._consumer.seek_to_beginning()
        else:
            self._consumer.seek_to_beginning(*(KafkaTopicPartition(t, p) for t, p in partitions))

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The broker's end offsets of the assigned partitions (unreliable on Tansu: TESTING.md)."""
        assigned = list(self._consumer.assignment())
        try:
            ends = self._consumer.end_offsets(assigned) if assigned else {}
        except KafkaError as exc:
            raise UpstreamError(f"Kafka end offsets unavailable: {exc}") from exc
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    def close(self) -> None:
        self._consumer.close(autocommit=False)


def follow(source: KafkaRecordSource, idle_exit_s: float | None = None) -> Iterator[Record]:
    """Records as they arrive, until ``idle_exit_s`` seconds pass without one (None: forever)."""
    last_seen = time.monotonic()
    while True:
        records = source.poll(timeout_s=0.5)
        if records:
            last_seen = time.monotonic()
        elif idle_exit_s is not None and time.monotonic() - last_seen >= idle_exit_s:
            return
        yield from records
