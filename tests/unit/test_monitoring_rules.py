"""The SLA rules (pure), identity redaction in free text, and the monitoring codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.domain.events import LOCAL_TZ
from hub.domain.identity import redact
from hub.domain.sla import clear_reason, conditions, next_check
from hub.errors import DecodeError
from hub.monitoring.records import TOPICS, MonitoringCodec

VN = LOCAL_TZ
DAY = timedelta(hours=24)


def row(due: datetime | None, **changes: Any) -> dict[str, Any]:
    base = {
        "due_at": due,
        "legal_due_at": due,
        "due_extensions": 0,
        "supplement_rounds": 0,
        "supplement_open": False,
        "finished_at": None,
        "refused_at": None,
        "withdrawn_at": None,
        "stopped_at": None,
    }
    return base | changes


def kinds(r: dict[str, Any], now: datetime) -> set[str]:
    return {c.kind for c in conditions(r, now, DAY)}


def test_past_due_starts_when_the_local_due_day_ends_not_at_the_due_instant() -> None:
    due = datetime(2026, 3, 2, 9, 0, tzinfo=VN)
    assert kinds(row(due), datetime(2026, 3, 2, 23, 59, 59, tzinfo=VN)) == {"DUE_SOON"}  # late in the day: on time
    assert kinds(row(due), datetime(2026, 3, 3, 0, 0, tzinfo=VN)) == {"PAST_DUE", "OVERDUE_WITHOUT_APOLOGY"}
    assert kinds(row(due), due - DAY - timedelta(seconds=1)) == set()
    assert kinds(row(due), due - DAY) == {"DUE_SOON"}


def test_an_apology_clears_no_apology_and_moves_past_due_to_the_new_date() -> None:
    legal = datetime(2026, 3, 2, 9, 0, tzinfo=VN)
    late = datetime(2026, 3, 4, 10, 0, tzinfo=VN)
    apologised = row(datetime(2026, 3, 10, 17, 0, tzinfo=VN), legal_due_at=legal, due_extensions=1)
    assert kinds(row(legal), late) == {"PAST_DUE", "OVERDUE_WITHOUT_APOLOGY"}
    assert kinds(apologised, late) == set()
    assert clear_reason("OVERDUE_WITHOUT_APOLOGY", apologised, []) == "apology_recorded"
    assert clear_reason("PAST_DUE", apologised, []) == "due_date_moved"


def test_an_open_supplement_suspends_time_but_a_second_request_stays_raised_until_resolution() -> None:
    due = datetime(2026, 3, 2, 9, 0, tzinfo=VN)
    later = datetime(2026, 3, 5, tzinfo=VN)
    waiting = row(due, supplement_rounds=2, supplement_open=True)
    assert kinds(waiting, later) == {"SECOND_SUPPLEMENT"}
    assert clear_reason("PAST_DUE", waiting, []) == "supplement_open"
    assert next_check(waiting, later, DAY) is None
    finished = row(due, supplement_rounds=2, finished_at=later)
    assert kinds(finished, later) == set()
    assert clear_reason("SECOND_SUPPLEMENT", finished, []) == "resolved"
    assert clear_reason("DUE_SOON", row(due, withdrawn_at=later), []) == "withdrawn"


def test_next_check_is_the_next_moment_time_alone_changes_something() -> None:
    due = datetime(2026, 3, 2, 9, 0, tzinfo=VN)
    assert next_check(row(due), due - 2 * DAY, DAY) == (due - DAY).astimezone(UTC)
    assert next_check(row(due), due - DAY, DAY) == datetime(2026, 3, 3, tzinfo=VN).astimezone(UTC)
    assert next_check(row(due), datetime(2026, 3, 3, tzinfo=VN), DAY) is None
    assert next_check(row(None), due, DAY) is None


def test_redact_masks_identity_shaped_numbers_in_free_text_only() -> None:
    text = "record 001203004512 (CMND 123456789, passport B1234567) in 000.00.12.H34-240510-0001 ref MC00ab12"
    assert redact(text) == (
        "record 001*******12 (CMND 123****89, passport B12***67) in 000.00.12.H34-240510-0001 ref MC00ab12"
    )


def test_codec_round_trips_every_record_type_and_refuses_foreign_bytes() -> None:
    codec = MonitoringCodec()
    now = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    samples = {
        "sla": {
            "record_id": "a",
            "condition": "PAST_DUE",
            "state": "RAISED",
            "reason": "PAST_DUE",
            "dossier_code": "D1",
            "supplement_rounds": 0,
            "detected_at": now,
        },
        "health": {
            "record_id": "b",
            "component": "onestop",
            "signal": "BREAKER",
            "state": "CHANGED",
            "detail": "closed -> open",
            "at": now,
        },
        "health-samples": {
            "record_id": "c",
            "at": now,
            "interval_s": 30.0,
            "connectors": [],
            "dead_letters_total": 0,
            "dead_letters_new": 0,
            "results_sync": {"synced": 0, "backlog": 0, "failing": 0, "oldest_backlog_age_s": 0.0},
            "divergences": {"DVCQG": 2},
            "unreadable_events": 0,
        },
        "security": {"record_id": "d", "at": now, "source": "PAYGOV", "kind": "bad_signature", "detail": "x"},
    }
    assert set(samples) == set(TOPICS)
    for kind, record in samples.items():
        name, back = codec.decode(codec.encode(kind, record))
        assert name == TOPICS[kind]
        assert {k: back[k] for k in record} == record
    for foreign in (b"", None, b"\x00\x00\x00\x00\x01abc", b"\xc3\x01" + b"\x00" * 8 + b"x"):
        with pytest.raises(DecodeError):
            codec.decode(foreign)
