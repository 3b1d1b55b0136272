"""Garbage, truncated and unknown-schema messages on the topic end up in the dead-letter topic,
with the reason, while the consumer keeps going."""

from __future__ import annotations

from confluent_kafka import Producer

from hub.bootstrap import make_codec
from hub.log.consuming import decode_batch
from hub.log.dead_letters import DeadLetters
from hub.log.kafka_log import KafkaEventLog
from hub.log.kafka_source import KafkaRecordSource
from hub.settings import Settings
from tests.support.processes import lifecycle, read_exactly


def test_bad_messages_are_parked_with_reasons_and_good_ones_flow(kafka_settings: Settings) -> None:
    codec = make_codec(kafka_settings)
    log = KafkaEventLog(kafka_settings, codec)
    events = lifecycle(2)
    good = codec.encode(events[0])
    bad = {
        b"garbage": b"\xff\xfe not avro at all",
        b"truncated": good[:-4],
        b"unknown-schema": b"\xc3\x01" + b"\x01" * 8 + good[10:],
    }
    key = events[0].dossier_code.encode()
    log.append(events[:3])
    for label, value in bad.items():
        log.send_raw(kafka_settings.dossier_topic, key, value, [("label", label)])
    # A header without a value (Kafka allows it; kafka-python cannot send one): librdkafka sends it.
    other = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap})
    other.produce(kafka_settings.dossier_topic, b"\x00 nul-framed", key, headers=[("label", b"null"), ("blank", None)])
    assert other.flush(10) == 0
    bad[b"null"] = b"\x00 nul-framed"
    log.append(events[3:])

    source = KafkaRecordSource(
        kafka_settings, [kafka_settings.dossier_topic], group_id="dlq-test", session_timeout_ms=6000
    )
    dead = DeadLetters(log, kafka_settings.dead_letter_topic)
    decoded = decode_batch(read_exactly(source, len(events) + len(bad)), codec, dead, source="dlq-test")
    source.close()
    assert sorted(str(e.event_id) for _, e in decoded) == sorted(str(e.event_id) for e in events)
    assert dead.parked["dlq-test"] == 4

    parked = KafkaRecordSource(kafka_settings, [kafka_settings.dead_letter_topic])
    records = read_exactly(parked, 4)
    parked.close()
    log.close()
    by_label = {r.header("label"): r for r in records}
    assert set(by_label) == set(bad)
    for label, value in bad.items():
        record = by_label[label]
        assert record.value == value, "original bytes kept"
        assert record.key == key
        assert record.header("dlq.topic") == kafka_settings.dossier_topic.encode()
        assert record.header("dlq.source") == b"dlq-test"
        assert record.header("dlq.offset") is not None
    assert b"not Avro" in (by_label[b"garbage"].header("dlq.reason") or b"")
    assert b"truncated" in (by_label[b"truncated"].header("dlq.reason") or b"")
    assert b"unknown schema fingerprint" in (by_label[b"unknown-schema"].header("dlq.reason") or b"")
    assert by_label[b"null"].header("blank") == b"", "a header without a value is parked, sent as empty"
