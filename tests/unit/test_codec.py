"""The codec: round trips in both wire formats, a second Avro implementation agrees, bad bytes are named."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import avro.io
import avro.schema
import fastavro
import pytest
from hypothesis import HealthCheck, given, settings

from hub.domain.events import Event, EventType
from hub.errors import DecodeError, EventValidationError
from hub.log.codec import SINGLE_OBJECT_MAGIC, EventCodec, WireFormat, _Decoding
from hub.log.schemas import SchemaSet
from tests.support.fakes import InMemoryRegistry, accepted_event
from tests.support.strategies import events

SCHEMAS = SchemaSet()
HISTORY = Path(__file__).parents[2] / "schemas" / "history" / "dossier"
LATEST = max(HISTORY.glob("DossierEvent.v*.avsc"), key=lambda p: int(p.stem.rsplit(".v", 1)[1]))


def _avro_reader() -> avro.io.DatumReader:
    # The published version file is self-contained, as a third party would use it.
    return avro.io.DatumReader(avro.schema.parse(LATEST.read_text(encoding="utf-8")))


AVRO_READER = _avro_reader()


def _crc64_avro(data: bytes) -> bytes:
    """The Avro spec's reference Rabin fingerprint, written out independently of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def _avro_decode(body: bytes) -> dict[str, Any]:
    return cast(dict[str, Any], AVRO_READER.read(avro.io.BinaryDecoder(io.BytesIO(body))))


def _assert_same(event: Event, datum: dict[str, Any]) -> None:
    assert datum["event_id"] == str(event.event_id)
    assert datum["dossier_code"] == event.dossier_code
    assert datum["source_system"] == event.source_system.value
    assert datum["occurred_at"] == event.occurred_at
    assert datum["recorded_at"] == event.recorded_at
    assert datum["payload"] == dict(event.payload)


codec_single = EventCodec(SCHEMAS)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events(SCHEMAS))
def test_every_event_type_round_trips_in_single_object_encoding(event: Event) -> None:
    data = codec_single.encode(event)
    assert data[:2] == SINGLE_OBJECT_MAGIC
    decoded = codec_single.decode(data)
    assert decoded == event
    assert decoded.id_text == event.id_text == str(event.event_id), "id_text is not compared by =="
    _assert_same(event, _avro_decode(data[10:]))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events(SCHEMAS))
def test_every_event_type_round_trips_in_confluent_framing(event: Event) -> None:
    registry = InMemoryRegistry()
    writer = EventCodec(SCHEMAS, registry, subject="dossier-events-value")
    data = writer.encode(event)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == 1
    reader = EventCodec(SCHEMAS, registry, subject="dossier-events-value")  # empty id cache: asks the registry
    assert reader.decode(data) == event
    assert reader.decode(codec_single.encode(event)) == event, "a registry codec also reads single-object data"
    _assert_same(event, _avro_decode(data[5:]))


@pytest.mark.parametrize("kind", list(EventType))
def test_each_event_type_is_in_the_schema_union(kind: EventType) -> None:
    assert kind.value in SCHEMAS.payload_types


def test_event_types_match_the_schema_exactly() -> None:
    assert set(SCHEMAS.payload_types) == {k.value for k in EventType}


def test_single_object_fingerprint_is_the_spec_crc64_of_the_canonical_form() -> None:
    assert codec_single.header()[2:] == _crc64_avro(SCHEMAS.current.canonical.encode())
    # byte order check on a schema the Apache implementation canonicalises correctly
    assert _crc64_avro(b'"int"') == avro.schema.parse('"int"').fingerprint("CRC-64-AVRO")


def test_confluent_codec_registers_once_and_reports_its_format() -> None:
    registry = InMemoryRegistry()
    codec = EventCodec(SCHEMAS, registry, subject="s-value")
    event = accepted_event()
    for _ in range(5):
        codec.encode(event)
    assert registry.calls == 1
    assert codec.wire_format is WireFormat.CONFLUENT
    assert codec.schema_ref() == "id:1"


def test_missing_optional_fields_take_their_defaults() -> None:
    decoded = codec_single.decode(codec_single.encode(accepted_event()))
    assert decoded.payload["receipt_number"] is None and decoded.payload["handling_unit"] is None


def test_invalid_payload_is_refused_with_the_field_named() -> None:
    with pytest.raises(EventValidationError, match="due_at"):
        codec_single.encode(accepted_event(due_at="tomorrow"))


GOOD = codec_single.encode(accepted_event())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty message"),
        (None, "empty message"),
        (b'{"MaHoSo": "x"}', "not Avro single-object or Confluent framing"),
        (b"\xc3\x01\x00", "truncated single-object header"),
        (b"\xc3\x01" + b"\x00" * 8 + GOOD[10:], "unknown schema fingerprint 0000000000000000"),
        (GOOD[:-5], "corrupt or truncated Avro body"),
        (GOOD + b"\x00\x00", "2 trailing bytes"),
        (GOOD[:10] + bytes([0x7F]) * 40, "corrupt or truncated Avro body"),
        (b"\x00\x00\x00\x00\x07" + GOOD[10:], "HUB_SCHEMA_REGISTRY_URL is unset"),
        (b"\x00\x00\x01", "truncated Confluent header"),
    ],
)
def test_bad_bytes_are_a_decode_error_with_a_reason(data: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        codec_single.decode(data)
    assert reason in caught.value.reason


def _with_event_id(event_id: str) -> bytes:
    """A message whose event_id text is spelled ``event_id`` (another producer's choice)."""
    record = codec_single.to_record(accepted_event())
    record["event_id"] = event_id
    out = io.BytesIO()
    fastavro.schemaless_writer(out, SCHEMAS.current.parsed, record)
    return codec_single.header() + out.getvalue()


def test_event_id_is_read_as_text_in_canonical_form() -> None:
    canonical = str(accepted_event().event_id)
    for spelling in (canonical, canonical.upper(), "{" + canonical + "}", canonical.replace("-", "")):
        decoded = codec_single.decode(_with_event_id(spelling))
        assert decoded.id_text == canonical and decoded.event_id == accepted_event().event_id


def test_an_event_id_that_is_no_uuid_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not a valid event"):
        codec_single.decode(_with_event_id("not-a-uuid"))


def test_unknown_confluent_id_is_a_decode_error() -> None:
    codec = EventCodec(SCHEMAS, InMemoryRegistry(), subject="s-value")
    with pytest.raises(DecodeError, match="unknown schema id 9"):
        codec.decode(b"\x00\x00\x00\x00\x09" + GOOD[10:])


def test_data_written_with_a_published_version_is_read_by_the_current_one() -> None:
    v1 = SCHEMAS.history[0]
    body = GOOD[10:]
    assert codec_single.decode(b"\xc3\x01" + v1.fingerprint + body).event_id == accepted_event().event_id


def test_schema_history_file_is_self_contained_json() -> None:
    parsed = json.loads(LATEST.read_text(encoding="utf-8"))
    assert parsed["name"] == "vn.motcua.events.DossierEvent"


def test_a_time_beyond_the_year_9999_is_a_decode_error() -> None:
    record = codec_single.to_record(accepted_event())
    record["occurred_at"] = 260_000_000_000_000  # ms: the year ~10209, a valid Avro long
    out = io.BytesIO()
    fastavro.schemaless_writer(out, SCHEMAS.current.parsed, record)  # fastavro writes an int as it is
    with pytest.raises(DecodeError, match="not a valid event"):
        codec_single.decode(codec_single.header() + out.getvalue())


def test_times_of_a_payload_record_named_elsewhere_keep_their_logical_type() -> None:
    millis = {"type": "long", "logicalType": "timestamp-millis"}
    stamp = {"type": "record", "name": "Stamp", "fields": [{"name": "at", "type": millis}]}
    other = {"type": "record", "name": "Other", "fields": [{"name": "at", "type": ["null", millis]}]}
    schema = {
        "type": "record",
        "name": "Envelope",
        "namespace": "t",
        "fields": [
            {"name": "occurred_at", "type": millis},
            {"name": "payload", "type": [stamp, other]},
            {"name": "again", "type": ["null", "t.Stamp"]},
        ],
    }
    decoding = _Decoding.of(schema)
    assert decoding.envelope_times == ("occurred_at",)
    assert decoding.payload_times == {"t.Other": ("at",)}, "Stamp is also used by name: fastavro converts it"
    moment = datetime(2026, 1, 5, 7, 30, 1, 250000, tzinfo=UTC)
    for payload in (("t.Stamp", {"at": moment}), ("t.Other", {"at": moment}), ("t.Other", {"at": None})):
        out = io.BytesIO()
        datum = {"occurred_at": moment, "payload": payload, "again": {"at": moment}}
        full = fastavro.parse_schema(schema)
        fastavro.schemaless_writer(out, full, datum)
        # Read as the codec does; and with a writer's schema that keeps the logical types (fastavro then
        # makes the datetimes itself, and make_times leaves them be).
        for writer, reader in ((decoding.parsed, None), (full, decoding.parsed)):
            read = fastavro.schemaless_reader(
                io.BytesIO(out.getvalue()), writer, reader, return_record_name=True, return_record_name_override=True
            )
            assert isinstance(read, dict)
            decoding.make_times(read)
            assert read == datum


def _public_read(body: bytes, parsed: Any) -> Any:
    return fastavro.schemaless_reader(
        io.BytesIO(body), parsed, None, return_record_name=True, return_record_name_override=True
    )


def test_with_the_installed_fastavro_the_codec_calls_its_record_reader_directly() -> None:
    # If a fastavro upgrade turns the direct call off (decoding stays right, ~1.2 us an event slower),
    # this says so: see _direct_reader.
    assert codec_single._reader.read.__qualname__.startswith("_direct_reader")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(events(SCHEMAS))
def test_the_direct_read_equals_schemaless_reader(event: Event) -> None:
    decoding = codec_single._reader
    body = codec_single.encode(event)[10:]
    buf = io.BytesIO(body)
    assert decoding.read(buf) == _public_read(body, decoding.parsed) and buf.tell() == len(body)


def test_a_fastavro_whose_internal_reader_differs_keeps_the_public_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastavro._read

    def wrong(fo: Any, writer: Any, named: Any, reader: Any, options: Any) -> Any:
        fo.read()
        return {}

    monkeypatch.setattr(fastavro._read, "_read_data", wrong)
    decoding = _Decoding.of(SCHEMAS.current.schema)
    assert decoding.read.__qualname__.startswith("_public_reader")
    data = codec_single.encode(accepted_event())
    assert decoding.read(io.BytesIO(data[10:])) == _public_read(data[10:], decoding.parsed)
    assert EventCodec(SCHEMAS).decode(data) == codec_single.decode(data)
