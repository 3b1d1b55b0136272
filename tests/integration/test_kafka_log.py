"""The Kafka adapter against a real Kafka-protocol broker: keys, headers, order, commits, seeks."""

from __future__ import annotations

from collections import defaultdict

from hub.bootstrap import make_codec
from hub.kafka_log import KafkaEventLog, ensure_topics, hub_topics
from hub.kafka_source import KafkaRecordSource
from hub.settings import Settings
from tests.integration.helpers import lifecycle, read_exactly


def test_events_are_keyed_by_dossier_with_headers_and_per_dossier_order(kafka_settings: Settings) -> None:
    codec = make_codec(kafka_settings)
    log = KafkaEventLog(kafka_settings, codec)
    events = lifecycle(20)
    log.append(events)
    log.close()

    source = KafkaRecordSource(kafka_settings, [kafka_settings.dossier_topic])
    records = read_exactly(source, len(events))
    source.close()

    by_dossier: dict[bytes, list[str]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        event = codec.decode(record.value)
        assert record.key == event.dossier_code.encode()
        assert record.header("event_id") == str(event.event_id).encode()
        assert record.header("event_type") == event.event_type.value.encode()
        assert record.header("source_system") == b"ONESTOP"
        assert record.header("schema") == codec.schema_ref().encode()
        by_dossier[record.key].append(event.event_type.value)
        partitions[record.key].add(record.partition)
    assert len(by_dossier) == 20
    assert all(kinds == ["DossierSubmitted", "DossierAccepted", "DossierWithdrawn"] for kinds in by_dossier.values())
    assert all(len(p) == 1 for p in partitions.values()), "one dossier, one partition"
    assert len({p for ps in partitions.values() for p in ps}) > 1, "dossiers spread over partitions"


def test_group_consumer_resumes_after_its_commit_and_can_seek(kafka_settings: Settings) -> None:
    log = KafkaEventLog(kafka_settings, make_codec(kafka_settings))
    log.append(lifecycle(5))
    group = "test-resume"
    kwargs = {"group_id": group, "session_timeout_ms": 6000}
    first = KafkaRecordSource(kafka_settings, [kafka_settings.dossier_topic], **kwargs)  # type: ignore[arg-type]
    records = read_exactly(first, 15)
    next_offsets: dict[tuple[str, int], int] = {}
    for r in records:
        next_offsets[(r.topic, r.partition)] = max(next_offsets.get((r.topic, r.partition), 0), r.offset + 1)
    first.commit(next_offsets)
    first.close()

    log.append(lifecycle(2, start=100))
    second = KafkaRecordSource(kafka_settings, [kafka_settings.dossier_topic], **kwargs)  # type: ignore[arg-type]
    fresh = read_exactly(second, 6)
    assert {r.key for r in fresh} == {b"000.00.20.H56-260609-0100", b"000.00.20.H56-260609-0101"}

    # seek back to a stored position: exactly the records after it come again
    topic, partition = fresh[0].topic, fresh[0].partition
    second.seek(topic, partition, fresh[0].offset)
    again = read_exactly(second, 1)
    assert (again[0].partition, again[0].offset) == (partition, fresh[0].offset)
    second.seek_to_beginning()
    assert len(read_exactly(second, 21)) >= 21
    second.close()
    log.close()


def test_ensure_topics_is_idempotent(kafka_settings: Settings) -> None:
    first = ensure_topics(kafka_settings, hub_topics(kafka_settings))
    assert set(first.values()) == {"exists"}  # the fixture created them
    renamed = kafka_settings.model_copy(update={"dossier_topic": kafka_settings.dossier_topic + ".b"})
    assert ensure_topics(renamed, hub_topics(renamed))[renamed.dossier_topic] == "created"
    assert ensure_topics(renamed, hub_topics(renamed))[renamed.dossier_topic] == "exists"
