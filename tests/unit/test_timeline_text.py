"""Timeline summaries show times as a reader in Vietnam reads them: local day/month/year hour:minute."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.events import EventType, new_event
from projections.timeline_text import describe

AT = datetime(2026, 6, 9, 1, 0, tzinfo=UTC)


def test_an_acceptance_states_its_due_time_in_local_time() -> None:
    event = new_event(
        EventType.DOSSIER_ACCEPTED,
        dossier_code="000.00.20.H56-260609-0001",
        source_system="ONESTOP",
        source_ref="BN-1",
        occurred_at=AT,
        payload={"receipt_number": "BN-1", "due_at": datetime(2026, 12, 31, 17, 5, tzinfo=UTC), "received_by": "Lê A"},
    )
    line = describe(event)
    assert line.en == "Accepted, receipt BN-1, result due 01/01/2027 00:05"  # 17:05 UTC is past midnight at UTC+7
    assert line.vi == "Tiếp nhận hồ sơ, biên nhận BN-1, hẹn trả 01/01/2027 00:05"
    assert line.actor == "Lê A"


def test_a_missing_due_time_reads_as_a_question_mark() -> None:
    event = new_event(
        EventType.DOSSIER_ACCEPTED,
        dossier_code="000.00.20.H56-260609-0001",
        source_system="ONESTOP",
        source_ref="BN-2",
        occurred_at=AT,
        payload={},
    )
    assert describe(event).en == "Accepted, result due ?"
