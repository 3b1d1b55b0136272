"""The Kafka adapter against a real Kafka-protocol broker: keys, headers, order, commits, seeks."""

from __future__ import annotations

from collections import defaultdict

from hub.bootstrap import make_codec, make_log
from hub.log.kafka_log import KafkaEventLog, ensure_topics, hub_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.ports import Record
from hub.settings import Settings
from simulators.synthetic import province_events
from tests.support.processes import lifecycle, read_exactly


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
    log = make_log(kafka_settings)
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


def test_a_fetch_brings_in_at_most_kafka_fetch_max_bytes(kafka_settings: Settings) -> None:
    """The read-ahead is bounded on the test broker too (Tansu ignores the per-partition limit and fills a
    response up to the request's own), and a small bound loses nothing."""
    log = make_log(kafka_settings)
    log.append(list(province_events(6_000, seed=3)))
    log.close()

    def first_poll_and_all(settings: Settings) -> tuple[int, list[int]]:
        source = KafkaRecordSource(settings, [settings.dossier_topic], partitions=[0])
        first: list[Record] = []
        for _ in range(6):  # the first fetch answers within 30 s, or the test fails below
            if first := source.poll(max_records=100_000, timeout_s=5.0):
                break
        offsets = [r.offset for r in first]
        while batch := source.poll(max_records=100_000, timeout_s=1.0):
            offsets.extend(r.offset for r in batch)
        source.close()
        return len(first), offsets

    whole, everything = first_poll_and_all(kafka_settings)  # the default, 1 MiB: ~10,000 compressed events
    bounded, same = first_poll_and_all(kafka_settings.model_copy(update={"kafka_fetch_max_bytes": 16_384}))
    assert whole == len(everything) > 1_000, "partition 0's ~2,000 events fit in one default fetch"
    assert 0 < bounded < 1_000, f"one 16 KiB fetch brought {bounded} events"
    assert same == everything == list(range(len(everything)))
