"""Timeline summaries show times as a reader in Vietnam reads them: local day/month/year hour:minute."""

from __future__ import annotations

from datetime import UTC, datetime

from projections.timeline_text import describe
from tests.support.fakes import accepted_event


def test_an_acceptance_states_its_due_time_in_local_time() -> None:
    due = datetime(2026, 12, 31, 17, 5, tzinfo=UTC)  # past midnight, into the next year, at UTC+7
    line = describe(accepted_event(receipt_number="BN-1", due_at=due, received_by="Lê A"))
    assert line.en == "Accepted, receipt BN-1, result due 01/01/2027 00:05"
    assert line.vi == "Tiếp nhận hồ sơ, biên nhận BN-1, hẹn trả 01/01/2027 00:05"
    assert line.actor == "Lê A"


def test_a_missing_due_time_reads_as_a_question_mark() -> None:
    assert describe(accepted_event(due_at=None)).en == "Accepted, result due ?"
