"""National portal feed records to events: the ground truth holds, any record maps or is rejected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dvcqg.mapping import map_portal_record, source_ref
from hub.domain.events import event_id_for
from hub.errors import MappingError
from simulators.dvcqg.world import PORTAL_KINDS, build_portal_world
from simulators.onestop.world import build_world

KEY = b"unit-test-identity-key"
WORLD = build_portal_world(build_world(600, seed=5), malformed_rate=0.03)


def test_every_record_maps_as_the_ground_truth_says() -> None:
    for record in WORLD.records:
        if record.malformed:
            with pytest.raises(MappingError):
                map_portal_record(record.record(), KEY)
            continue
        event = map_portal_record(record.record(), KEY)
        assert event.event_id == event_id_for("DVCQG", source_ref(record.id), PORTAL_KINDS[record.kind])
        if record.kind == "NOP_HO_SO":
            assert event.payload["channel"] == "ONLINE" and event.payload["service_code"]
            assert record.fields["DinhDanhCHS"]["SoDinhDanh"] not in repr(event)
        else:
            assert event.payload["rating"] in ("VERY_SATISFIED", "SATISFIED", "NOT_SATISFIED")


junk = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.integers(-(10**9), 10**9),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(WORLD.records),
    st.sampled_from(
        [
            "Id",
            "Loai",
            "MaHoSo",
            "NgayNopHoSo",
            "ThoiGian",
            "MucDoHaiLong",
            "DinhDanhCHS",
            "TaiLieuNop",
            "MucDo",
            "LoaiDoiTuong",
        ]
    ),
    junk,
)
def test_any_record_maps_or_is_rejected_with_a_reason(record: Any, field: str, value: Any) -> None:
    raw = record.record()
    raw[field] = value
    try:
        map_portal_record(raw, KEY)
    except MappingError as exc:
        assert exc.reason
