"""The dossier state fold: any order and any duplication of a dossier's events give the same row;
the outcome and gap rules do what the module says they do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.dossier_fold import DossierFold, _local_day, derive
from hub.domain.epoch_millis import EPOCH
from hub.domain.events import LOCAL_TZ, Event, EventType, new_event
from simulators.synthetic import province_events

T = EventType
CODE = "000.00.20.H56-260609-0001"
DAY = datetime(2026, 6, 9, 8, 0, tzinfo=LOCAL_TZ)
SAMPLE = list(province_events(3000, seed=7))
BY_DOSSIER: dict[str, list[Event]] = {}
for _event in SAMPLE:
    BY_DOSSIER.setdefault(_event.dossier_code, []).append(_event)
RICH = sorted(BY_DOSSIER.values(), key=len, reverse=True)[:40]


def fold_of(events: list[Event]) -> dict[str, Any]:
    fold = DossierFold()
    for event in events:
        fold.apply(event)
    return derive(events[0].dossier_code, DossierFold.from_json(fold.to_json()))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(RICH), st.randoms(use_true_random=False), st.integers(0, 6))
def test_any_order_and_duplication_gives_the_same_state(events: list[Event], rng: Any, dupes: int) -> None:
    shuffled = events + [rng.choice(events) for _ in range(dupes)]
    rng.shuffle(shuffled)
    assert fold_of(shuffled) == fold_of(events)


def ev(kind: T, days: float, payload: dict[str, Any], ref: str | None = None) -> Event:
    return new_event(
        kind,
        dossier_code=CODE,
        source_system="ONESTOP",
        source_ref=ref or f"{kind.value}/{days}",
        occurred_at=DAY + timedelta(days=days),
        payload=payload,
        agency_code="000.00.20.H56",
    )


def submitted(days: float = 0) -> Event:
    return ev(
        T.DOSSIER_SUBMITTED,
        days,
        {"channel": "ONLINE", "online_level": "FULL", "applicant": {"kind": "CITIZEN"}, "documents": []},
    )


def accepted(due_days: float | None, days: float = 0.01) -> Event:
    due = DAY + timedelta(days=due_days) if due_days is not None else None
    return ev(T.DOSSIER_ACCEPTED, days, {"due_at": due, "receipt_number": "BN-1"})


def issued(days: float) -> Event:
    return ev(T.RESULT_ISSUED, days, {"result_code": "KQ-1"})


def test_before_on_and_after_the_due_day() -> None:
    assert fold_of([submitted(), accepted(5), issued(3)])["outcome"] == "before_due"
    assert fold_of([submitted(), accepted(5), issued(5.3)])["outcome"] == "on_due"  # same local day
    assert fold_of([submitted(), accepted(5), issued(6)])["outcome"] == "overdue"
    assert fold_of([submitted(), accepted(5)])["outcome"] == "in_progress"


def test_citizen_supplement_time_is_excluded() -> None:
    request = ev(T.SUPPLEMENT_REQUESTED, 2, {"round": 1, "content": "x"})
    provided = ev(T.SUPPLEMENT_PROVIDED, 4, {"round": 1})  # 2 days with the citizen, no new date given
    row = fold_of([submitted(), accepted(5), request, provided, issued(6.1)])
    assert row["supplement_seconds"] == 2 * 86400 and row["supplement_rounds"] == 1
    assert row["legal_due_at"] == DAY + timedelta(days=7)
    assert row["outcome"] == "before_due"


def test_second_supplement_request_counts_as_overdue() -> None:
    rounds = [
        ev(T.SUPPLEMENT_REQUESTED, 1, {"round": 1, "content": "x"}),
        ev(T.SUPPLEMENT_PROVIDED, 1.5, {"round": 1}),
        ev(T.SUPPLEMENT_REQUESTED, 2, {"round": 2, "content": "y"}),
        ev(T.SUPPLEMENT_PROVIDED, 2.5, {"round": 2}),
    ]
    assert fold_of([submitted(), accepted(9), *rounds, issued(3)])["outcome"] == "overdue"


def test_apology_moves_the_appointment_not_the_legal_due_date() -> None:
    apology = ev(
        T.DUE_DATE_EXTENDED,
        4.5,
        {"previous_due_at": DAY + timedelta(days=5), "new_due_at": DAY + timedelta(days=8), "reason": "chờ phối hợp"},
    )
    row = fold_of([submitted(), accepted(5), apology, issued(7)])
    assert row["due_at"] == DAY + timedelta(days=8) and row["legal_due_at"] == DAY + timedelta(days=5)
    assert row["due_extensions"] == 1 and row["due_extension_history"][0]["reason"] == "chờ phối hợp"
    assert row["outcome"] == "overdue" and "overdue_without_apology" not in row["gap_flags"]


def test_terminal_status_is_not_reopened_by_a_later_payment() -> None:
    paid = ev(T.PAYMENT_CONFIRMED, 9, {"payment_ref": "PG1", "amount_vnd": 50_000, "transaction_id": "GD1"})
    returned = ev(T.RESULT_RETURNED, 8, {"channel": "DIRECT"})
    fee = ev(T.FEE_ASSESSED, 0.5, {"fees": [], "total_vnd": 50_000})
    row = fold_of([submitted(), accepted(9), fee, issued(7), returned, paid])
    assert row["national_status"] == 10
    assert row["fee_status"] == "paid" and row["paid_total_vnd"] == 50_000


def test_gap_flags() -> None:
    returned = ev(T.RESULT_RETURNED, 8, {"channel": "DIRECT"})
    paid = ev(T.PAYMENT_CONFIRMED, 1, {"payment_ref": "PG1", "amount_vnd": 10, "transaction_id": "GD1"})
    row = fold_of([accepted(None), returned, paid])
    flags = set(row["gap_flags"].split(","))
    assert flags == {
        "no_submission",
        "accepted_without_due_date",
        "returned_without_approval",
        "returned_without_result",
        "payment_without_fee",
    }
    late = fold_of([submitted(), accepted(2), issued(4)])
    assert "overdue_without_apology" in late["gap_flags"]


def test_events_before_the_submission_create_the_row_and_it_fills_in() -> None:
    early = fold_of([accepted(5, days=0.1)])
    assert early["channel"] is None and early["national_status"] == 2 and "no_submission" in early["gap_flags"]
    full = fold_of([accepted(5, days=0.1), submitted(0)])
    assert full["channel"] == "ONLINE" and full["submitted_at"] == DAY and "no_submission" not in full["gap_flags"]


def test_step_status_and_detailed_step() -> None:
    step = ev(
        T.PROCESSING_STEP_RECORDED,
        1,
        {"step": "APPRAISE", "description": "Thẩm định", "national_status": 4, "department": "Phòng KT"},
    )
    supplement = ev(T.SUPPLEMENT_REQUESTED, 2, {"round": 1, "content": "x"})
    row = fold_of([submitted(), accepted(5), step, supplement])
    assert row["national_status"] == 5 and row["supplement_open"] is True
    assert (row["detailed_step"], row["handling_unit"]) == ("APPRAISE", "Phòng KT")


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_local_day_is_the_calendar_day_in_vietnam(epoch_ms: int) -> None:
    # Outcomes compare local days computed with integer arithmetic (UTC+7) from 1975 on; before that
    # the time zone database decides. Either way, the day must be the one a clock in Hà Nội showed.
    local = (EPOCH + timedelta(milliseconds=epoch_ms)).astimezone(LOCAL_TZ).date()
    assert _local_day(epoch_ms) == (local - EPOCH.date()).days
