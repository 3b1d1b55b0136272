"""Undecodable records are parked with their bytes and the reason, the rest still come through."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.events import new_event
from hub.log.codec import EventCodec
from hub.log.consuming import decode_batch
from hub.log.dead_letters import DeadLetters
from hub.log.schemas import SchemaSet
from hub.ports import Record
from tests.support.fakes import RecordingSink


def test_decode_batch_parks_bad_records_and_keeps_good_ones() -> None:
    codec = EventCodec(SchemaSet())
    event = new_event(
        "DossierWithdrawn",
        dossier_code="A-260609-0001",
        source_system="ONESTOP",
        source_ref="r",
        occurred_at=datetime(2026, 6, 9, tzinfo=UTC),
        payload={"reason": None},
    )
    good = codec.encode(event)
    records = [
        Record("t", 0, 0, b"A", good),
        Record("t", 0, 1, b"A", b"garbage", (("trace", b"abc"), ("blank", None))),
        Record("t", 0, 2, b"A", good),
    ]
    sink = RecordingSink()
    dead = DeadLetters(sink, "dlq")
    decoded = decode_batch(records, codec, dead, source="unit")
    assert [r.offset for r, _ in decoded] == [0, 2]
    assert dead.parked["unit"] == 1
    topic, key, value, headers = sink.sent[0]
    assert (topic, key, value) == ("dlq", b"A", b"garbage")
    named = dict(headers)
    assert b"not Avro" in (named["dlq.reason"] or b"")
    assert (named["dlq.topic"], named["dlq.partition"], named["dlq.offset"]) == (b"t", b"0", b"1")
    assert (named["trace"], named["blank"]) == (b"abc", None), "the original headers travel with the record"
