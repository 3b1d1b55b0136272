"""The national mirror's pure rules: what versions a dossier for the portal, what it sends, and what
counts as a divergence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.dvcqg.mirror.payload import acknowledged_on_portal, dossier_item, step_item
from connectors.dvcqg.mirror.reconcile import compare
from connectors.dvcqg.mirror.store import Outbox, Work
from hub.domain.dossier_fold import DossierFold, derive
from hub.domain.events import EventType, new_event

T = EventType
CODE = "000.00.20.H56-260609-0001"
AT = datetime(2026, 6, 9, 1, 0, tzinfo=UTC)  # 08:00 in Hà Nội


def ev(kind: EventType, hours: float, payload: dict[str, Any], system: str = "ONESTOP") -> Any:
    return new_event(
        kind,
        dossier_code=CODE,
        source_system=system,
        source_ref=f"{kind.value}/{hours}",
        occurred_at=AT + timedelta(hours=hours),
        payload=payload,
        agency_code="000.00.20.H56",
        procedure_code="1.004227",
    )


SUBMITTED = ev(T.DOSSIER_SUBMITTED, 0, {"channel": "POSTAL", "applicant": {"kind": "CITIZEN"}, "documents": []})
ACCEPTED = ev(T.DOSSIER_ACCEPTED, 1, {"due_at": AT + timedelta(days=5), "receipt_number": "BN-1"})
SUPPLEMENT = ev(T.SUPPLEMENT_REQUESTED, 2, {"round": 1, "content": "Bổ sung bản sao"})
RATED = ev(T.SATISFACTION_RATED, 3, {"rating": "SATISFIED"}, system="DVCQG")


def row_of(*events: Any) -> dict[str, Any]:
    fold = DossierFold()
    for event in events:
        fold.apply(event)
    return derive(CODE, fold)


def test_portal_version_counts_what_the_portal_must_know_once() -> None:
    row = row_of(SUBMITTED, ACCEPTED, ACCEPTED, SUPPLEMENT, RATED)
    assert row["portal_version"] == 3, "a rating comes from the portal; a repeat is not a change"
    assert row["mirror_pending"] and row["mirror_version"] == 0
    synced = ev(
        T.NATIONAL_STATUS_SYNCED, 4, {"national_status": 5, "sync_version": 3, "operation": "INSERT"}, system="HUB"
    )
    after = row_of(SUBMITTED, ACCEPTED, SUPPLEMENT, RATED, synced)
    assert after["portal_version"] == 3 and after["mirror_version"] == 3 and not after["mirror_pending"]


def test_a_dossier_the_portal_cannot_file_yet_is_not_pending() -> None:
    assert not row_of(SUPPLEMENT)["mirror_pending"], "no submission nor acceptance: wait for them"


def test_the_dossier_record_speaks_the_portals_vocabulary() -> None:
    item = dossier_item(row_of(SUBMITTED, ACCEPTED, SUPPLEMENT))
    assert item["KenhThucHien"] == 3 and item["LoaiDoiTuong"] == 1 and item["TrangThaiHoSo"] == 5
    assert item["NgayNopHoSo"] == "20260609080000" and item["NgayHenTra"] == "20260614080000"
    assert "NgayTra" not in item and "MaDichVuCong" not in item, "unknown values are left out, not sent as null"


def work(steps: list[dict[str, Any]], status: int = 5) -> Work:
    item = {"MaHoSo": CODE, "TrangThaiHoSo": status, "NgayHenTra": "20260614080000"}
    return Work(CODE, 3, 3, status, None, None, {}, item, [(f"e{i}", s) for i, s in enumerate(steps)], Outbox(CODE))


STEP = step_item(CODE, {"occurred_at": AT, "summary_vi": "Tiếp nhận hồ sơ", "national_status": 2})
STEP2 = step_item(CODE, {"occurred_at": AT + timedelta(hours=1), "summary_vi": "Yêu cầu bổ sung", "national_status": 5})


def test_agreement_is_not_a_divergence() -> None:
    portal = {"MaHoSo": CODE, "TrangThaiHoSo": 5, "NgayHenTra": "20260614080000", "QuaTrinhXuLy": [STEP, STEP2]}
    assert compare(work([STEP, STEP2]), portal) == []


def test_known_patterns_are_named() -> None:
    assert [d.rule for d in compare(work([]), None)] == ["missing-on-portal"]
    portal = {"TrangThaiHoSo": 9, "NgayHenTra": "20260614080000", "QuaTrinhXuLy": [STEP]}
    found = {d.rule: d for d in compare(work([STEP, STEP2]), portal)}
    assert set(found) == {"status-reported-as-9", "steps-missing"}
    assert (found["status-reported-as-9"].portal_value, found["status-reported-as-9"].hub_value) == ("9", "5")
    assert [d.rule for d in compare(work([STEP], status=4), {**portal, "TrangThaiHoSo": 2})] == ["status-differs"]


def test_duplicated_steps_on_the_portal_are_reported_but_not_repairable() -> None:
    portal = {"TrangThaiHoSo": 5, "NgayHenTra": "20260614080000", "QuaTrinhXuLy": [STEP, STEP, STEP2]}
    (extra,) = compare(work([STEP, STEP2]), portal)
    assert extra.rule == "steps-extra" and not extra.repairable


def test_steps_are_matched_as_a_multiset() -> None:
    ours = [("a", STEP), ("b", STEP), ("c", STEP2)]
    assert acknowledged_on_portal(ours, [STEP, STEP2]) == {"a", "c"}, "one copy on the portal covers one of ours"
