"""One-stop records to events: every record the simulator can produce maps or is rejected with a
reason; specific fields land where they belong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.onestop.mapping import ENRICHMENT_KEY, map_change, source_ref
from hub.domain.dossier_code import parse_dossier_code
from hub.domain.events import event_id_for
from hub.errors import MappingError
from simulators.onestop.world import CHANGE_KINDS, build_world

KEY = b"unit-test-identity-key"
WORLD = build_world(400, seed=3, malformed_rate=0.02)


def enriched(change: Any) -> dict[str, Any]:
    record: dict[str, Any] = change.record()
    if change.kind == "SO_HOA" and change.malformed is None:
        f = WORLD.files[change.fields["Ma"]]
        record[ENRICHMENT_KEY] = {
            "TepTin": {
                "DuongDan": f"http://sim/tep/{f.code}",
                "MaBam": f.sha256,
                "KichThuoc": len(f.content),
                "KieuTep": f.media_type,
            }
        }
    return record


def test_the_whole_world_maps_as_its_ground_truth_says() -> None:
    for change in WORLD.changes:
        if change.malformed:
            with pytest.raises(MappingError):
                map_change(enriched(change), KEY)
            continue
        event = map_change(enriched(change), KEY)
        assert event.event_type.value == CHANGE_KINDS[change.kind]
        assert event.event_id == event_id_for("ONESTOP", source_ref(change.seq), CHANGE_KINDS[change.kind])
        assert event.occurred_at == change.at.astimezone(UTC)


junk = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(WORLD.changes),
    st.lists(st.tuples(st.text(max_size=25), junk), max_size=4),
    st.sampled_from(
        [
            "MaThayDoi",
            "LoaiThayDoi",
            "MaHoSo",
            "ThoiDiem",
            "KenhThucHien",
            "DanhSachLePhi",
            "TrangThai",
            "LanBoSung",
            "NgayHenTra",
            "DinhDanhCHS",
            ENRICHMENT_KEY,
            "Ma",
            "MaDinhDanh",
        ]
    ),
    junk,
)
def test_any_record_maps_or_is_rejected_with_a_reason(
    change: Any, extra: list[tuple[str, Any]], field: str, value: Any
) -> None:
    record = enriched(change)
    record[field] = value
    record.update(extra)
    try:
        event = map_change(record, KEY)
    except MappingError as exc:
        assert exc.reason
    else:
        assert event.dossier_code and event.occurred_at.tzinfo is UTC


def _find(kind: str) -> Any:
    return next(c for c in WORLD.changes if c.kind == kind and c.malformed is None)


def test_submission_protects_the_identity_and_reads_the_channel() -> None:
    change = _find("NOP_HO_SO")
    event = map_change(enriched(change), KEY)
    number = change.fields["DinhDanhCHS"]["SoDinhDanh"]
    assert number not in repr(event)
    assert event.payload["applicant"]["identity"]["masked"].startswith(number[:3])
    assert event.payload["channel"] == {1: "DIRECT", 2: "ONLINE", 3: "POSTAL"}[change.fields["KenhThucHien"]]


def test_local_times_become_utc() -> None:
    record = enriched(_find("TIEP_NHAN"))
    record["ThoiDiem"], record["NgayHenTra"] = "20260609081500", "20260612170000"
    event = map_change(record, KEY)
    assert event.occurred_at == datetime(2026, 6, 9, 1, 15, tzinfo=UTC)
    assert event.payload["due_at"] == datetime(2026, 6, 12, 10, 0, tzinfo=UTC)


def test_fees_and_digitised_results() -> None:
    fee = map_change(enriched(_find("NGHIA_VU_TAI_CHINH")), KEY)
    assert fee.payload["fees"][0]["collected"] == "AT_ACCEPTANCE" and fee.payload["total_vnd"] > 0
    change = _find("SO_HOA")
    result = map_change(enriched(change), KEY)
    assert result.payload["file"]["sha256"] == WORLD.files[change.fields["Ma"]].sha256
    bare = change.record()  # no LayKetQuaSoHoa metadata: rejected, not guessed
    with pytest.raises(MappingError, match="file metadata"):
        map_change(bare, KEY)


@pytest.mark.parametrize(
    ("text", "unit", "number"),
    [
        ("000.00.20.H56-260609-0001", "000.00.20.H56", 1),
        ("G09.20-20260609-0092637", "G09.20", 92637),
        (" H56.22-251231-0042 ", "H56.22", 42),
        ("HS-ABC", None, None),
    ],
)
def test_dossier_codes_parse_tolerantly(text: str, unit: str | None, number: int | None) -> None:
    parsed = parse_dossier_code(text)
    assert (parsed.code, parsed.unit, parsed.number) == (text.strip(), unit, number)


@pytest.mark.parametrize("text", ["", "   ", "000.00 20-260609-1", "x" * 65])
def test_unusable_dossier_codes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dossier_code(text)
