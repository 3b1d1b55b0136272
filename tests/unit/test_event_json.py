"""JSON in and out for operators: precise errors, identity protection, and a lossless round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from hub.domain.events import Event, event_id_for
from hub.errors import EventValidationError
from hub.log.codec import EventCodec
from hub.log.event_json import event_from_json, event_to_json, parse_timestamp
from hub.log.schemas import SchemaSet
from tests.support.strategies import events

SCHEMAS = SchemaSet()
KEY = b"unit-test-identity-key"


def _submitted(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "event_type": "DossierSubmitted",
        "dossier_code": "G09.20-20260609-0092637",
        "source_system": "DVCQG",
        "source_ref": "nop/0092637",
        "occurred_at": "20260609081500",
        "agency_code": "000.00.20.H56",
        "procedure_code": "1.004227",
        "payload": {
            "channel": "ONLINE",
            "online_level": "FULL",
            "applicant": {"kind": "CITIZEN", "identity": {"id_number": "001203004567"}},
        },
    }
    obj.update(overrides)
    return obj


def test_upstream_local_time_becomes_utc_and_identity_is_protected() -> None:
    event = event_from_json(_submitted(), SCHEMAS, identity_key=KEY)
    assert event.occurred_at == datetime(2026, 6, 9, 1, 15, tzinfo=UTC)
    identity = event.payload["applicant"]["identity"]
    assert identity["masked"] == "001*******67"
    assert "001203004567" not in str(event)
    assert event.payload["documents"] == [] and event.payload["due_at"] is None  # defaults filled
    assert event.event_id == event_id_for("DVCQG", "nop/0092637", "DossierSubmitted")


def test_same_line_twice_gives_the_same_id_and_bytes_but_recorded_at() -> None:
    first = event_from_json(_submitted(), SCHEMAS, identity_key=KEY)
    second = event_from_json(_submitted(), SCHEMAS, identity_key=KEY)
    assert first.event_id == second.event_id
    assert first.payload == second.payload


@pytest.mark.parametrize(
    ("overrides", "path", "words"),
    [
        ({"event_type": "DossierLost"}, "event_type", "unknown event type"),
        ({"source_system": "ZALO"}, "source_system", "not one of"),
        ({"dossier_code": ""}, "dossier_code", "required"),
        ({"occurred_at": "2026-06-09T08:15:00"}, "occurred_at", "no UTC offset"),
        ({"occurred_at": "20261309081500"}, "occurred_at", "invalid yyyyMMddHHmmss"),
        ({"extra": 1}, "extra", "unknown envelope field"),
        ({"event_id": "7d1f0a3e-0000-5000-8000-000000000000"}, "event_id", "deterministic id"),
        (
            {"payload": {"channel": "FAX", "online_level": "FULL", "applicant": {"kind": "CITIZEN"}}},
            "payload.channel",
            "not one of",
        ),
        ({"payload": {"online_level": "FULL", "applicant": {"kind": "CITIZEN"}}}, "payload.channel", "missing"),
        (
            {"payload": {"channel": "ONLINE", "online_level": "FULL", "applicant": {"kind": "CITIZEN", "nme": "x"}}},
            "payload.applicant.nme",
            "unknown field",
        ),
        (
            {
                "payload": {
                    "channel": "ONLINE",
                    "online_level": "FULL",
                    "applicant": {"kind": "CITIZEN"},
                    "documents": ["a", 3],
                }
            },
            "payload.documents[1]",
            "expected a string",
        ),
    ],
)
def test_bad_input_names_the_field(overrides: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        event_from_json(_submitted(**overrides), SCHEMAS, identity_key=KEY)
    assert caught.value.path == path
    assert words in caught.value.problem


def test_money_must_be_whole_dong() -> None:
    fee = {"code": "LP01", "name": "Lệ phí", "amount_vnd": 100000.5, "kind": "CHARGE", "collected": "AT_ACCEPTANCE"}
    obj = _submitted(event_type="FeeAssessed", payload={"fees": [fee], "total_vnd": 100000})
    with pytest.raises(EventValidationError) as caught:
        event_from_json(obj, SCHEMAS)
    assert caught.value.path == "payload.fees[0].amount_vnd"


def test_raw_identity_without_a_key_is_refused() -> None:
    with pytest.raises(EventValidationError, match="HUB_IDENTITY_KEY"):
        event_from_json(_submitted(), SCHEMAS, identity_key=None)


def test_parse_timestamp_accepts_iso_with_offset() -> None:
    assert parse_timestamp("2026-06-09T08:15:00+07:00", "t") == datetime(2026, 6, 9, 1, 15, tzinfo=UTC)
    assert parse_timestamp("2026-06-09T01:15:00Z", "t") == datetime(2026, 6, 9, 1, 15, tzinfo=UTC)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(events(SCHEMAS))
def test_json_round_trip_is_lossless(event: Event) -> None:
    assert event_from_json(event_to_json(event), SCHEMAS) == event
    EventCodec(SCHEMAS).encode(event_from_json(event_to_json(event), SCHEMAS))


def test_identity_numbers_typed_into_published_free_text_are_masked() -> None:
    line = {
        "event_type": "DossierRefused",
        "dossier_code": "000.00.20.H56-260609-0001",
        "source_system": "ONESTOP",
        "source_ref": "tu-choi/1",
        "occurred_at": "20260609081500",
        "payload": {"reason": "CCCD 079-203-004-512 không khớp", "refused_by": "Trần Thị Bình"},
    }
    event = event_from_json(line, SCHEMAS, identity_key=KEY)
    assert event.payload["reason"] == "CCCD 079*******12 không khớp"
