"""Digitised results: the projection's order independence and states, the store feed's mapping,
and the sync's check of the store's echo."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dvcqg.results.sync import ResultsSync, ResultWork
from connectors.dvcqg.store_feed import map_store_change
from hub.domain.divergence import divergence_event
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError
from projections.results import ResultsProjection
from simulators.synthetic import digitised_result
from tests.support.fakes import project_in_memory

KEY = b"unit-identity-key-0123456789"
CONTENT = b"%PDF-1.4 ket qua"
OLD = digitised_result("KQ1", 1, "http://src/tep/KQ1", CONTENT, KEY)
NEW = digitised_result("KQ2", 2, "http://src/tep/KQ2", CONTENT + b"2", KEY, replaces="KQ1")
AT = OLD.occurred_at


def outcome(kind: EventType, code: str, minutes: int, **payload: Any) -> Event:
    return new_event(
        kind,
        dossier_code=OLD.dossier_code,
        source_system=SourceSystem.HUB,
        source_ref=f"{code}:{kind.value}:{minutes}",
        occurred_at=AT + timedelta(minutes=minutes),
        payload={"result_code": code, **payload},
    )


def project(events: list[Event], batches: int) -> dict[str, dict[str, Any]]:
    return {r["result_code"]: r for r in project_in_memory(ResultsProjection(), events, batches)}


def digest_of(event: Event) -> str:
    return str(project([event], 1)[event.payload["result_code"]]["metadata_digest"])


SYNCED_NEW = outcome(
    EventType.RESULT_SYNCED,
    "KQ2",
    30,
    national_code="QG-KQ2",
    sha256=NEW.payload["file"]["sha256"],
    metadata_digest=digest_of(NEW),
    operation="REPLACE",
    attempt=2,
)
LIFE = [
    OLD,
    outcome(
        EventType.RESULT_SYNC_FAILED, "KQ2", 10, error_code="hash-mismatch", reason="bad", attempt=1, will_retry=True
    ),
    NEW,
    SYNCED_NEW,
    outcome(EventType.RESULT_REVOKED, "KQ9", 40, revoked_by="Sở", reason=None),
]


@settings(max_examples=60, deadline=None)
@given(st.permutations(LIFE), st.integers(1, 4), st.integers(0, 3))
def test_the_rows_are_the_same_in_any_order_and_a_replacement_marks_the_old(
    events: list[Event], batches: int, dupes: int
) -> None:
    rng = random.Random(dupes)
    rows = project(events + [rng.choice(events) for _ in range(dupes)], batches)
    assert rows == project(LIFE, 1)
    assert rows["KQ1"]["state"] == "replaced" and rows["KQ1"]["replaced_by"] == "KQ2"
    assert rows["KQ2"]["state"] == "synced" and rows["KQ2"]["attempts"] == 1
    assert rows["KQ9"]["state"] == "revoked"


def test_drift_after_the_sync_is_drifted_until_a_repair() -> None:
    drift = divergence_event(
        NEW.dossier_code,
        "KQ2@x",
        "ThongTin",
        "differs",
        "hub copy",
        "differs_in_store",
        source_system=SourceSystem.DVCQG,
        about="KQ2",
        occurred_at=AT + timedelta(minutes=50),
    )
    assert project([NEW, SYNCED_NEW, drift], 1)["KQ2"]["state"] == "drifted"
    repaired = outcome(
        EventType.RESULT_SYNCED,
        "KQ2",
        60,
        national_code="QG-KQ2",
        sha256=NEW.payload["file"]["sha256"],
        metadata_digest=digest_of(NEW),
        operation="REPAIR",
        attempt=1,
    )
    assert project([NEW, SYNCED_NEW, drift, repaired], 1)["KQ2"]["state"] == "synced"
    elsewhere = divergence_event(
        NEW.dossier_code,
        "KQ2@y",
        "Ma",
        None,
        "KQ2",
        "missing_at_onestop",
        about="KQ2",
        source_system=SourceSystem.ONESTOP,
    )
    assert project([NEW, SYNCED_NEW, elsewhere], 1)["KQ2"]["state"] == "synced", "only the store's drift counts"


def test_a_failure_not_retried_is_failed() -> None:
    parked = outcome(
        EventType.RESULT_SYNC_FAILED, "KQ1", 5, error_code="3", reason="refused", attempt=8, will_retry=False
    )
    row = project([OLD, parked], 1)["KQ1"]
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 8, "3: refused")


def test_the_store_feed_maps_revocations_and_edits_and_refuses_the_rest() -> None:
    base = {"Id": 7, "Ma": "KQ1", "MaHoSo": "G01-1", "ThoiDiem": "20260504101500"}
    revoked = map_store_change({**base, "Loai": "THU_HOI", "NguoiThucHien": "Sở", "LyDo": "hết hiệu lực"})
    assert revoked.event_type is EventType.RESULT_REVOKED and revoked.payload["result_code"] == "KQ1"
    edited = map_store_change({**base, "Loai": "SUA_DOI", "TruongThayDoi": "NguoiKy"})
    assert edited.event_type is EventType.DIVERGENCE_DETECTED and edited.payload["subject"] == "KQ1"
    assert edited.source_system is SourceSystem.DVCQG and edited.payload["field"] == "NguoiKy"
    for broken, field in (
        ({**base, "Loai": "XOA"}, "Loai"),
        ({**base, "Loai": "THU_HOI", "ThoiDiem": "mai"}, "ThoiDiem"),
    ):
        with pytest.raises(MappingError, match=field):
            map_store_change(broken)


def test_the_echo_must_match_file_owner_metadata_and_status() -> None:
    row = project([NEW], 1)["KQ2"]
    work = ResultWork(row, {})
    echo = {
        "MaBam": row["source_sha256"],
        "ChuSoHuu": row["owner_hash"],
        "ThongTin": work.metadata,
        "TrangThai": "HIEU_LUC",
    }
    check = ResultsSync.echo_differs
    assert check(work, echo) is None
    assert check(work, None) == "not in the store"
    for name, value in (("MaBam", "0" * 64), ("ChuSoHuu", "x"), ("ThongTin", {}), ("TrangThai", "THU_HOI")):
        assert check(work, {**echo, name: value}) == f"{name} differs in the store's echo"
