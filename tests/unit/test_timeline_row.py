"""A timeline row is a tuple in the table's column order: each value must land in its own column."""

from __future__ import annotations

from hub.domain.dossier_fold import status_of
from hub.domain.events import EVENT_ORDER
from hub.ports import Record
from projections.timeline import TimelineProjection, timeline_row
from projections.timeline_text import describe
from simulators.synthetic import province_events


def test_each_value_is_in_its_column() -> None:
    columns = [c.name for c in TimelineProjection().tables(1)[0].columns]
    for offset, event in enumerate(province_events(300, seed=4)):
        record = Record("dossier-events", 7, 1000 + offset, event.dossier_code.encode(), b"")
        row = dict(zip(columns, timeline_row(record, event), strict=True))
        line = describe(event)
        assert row == {
            "event_id": event.id_text,
            "dossier_code": event.dossier_code,
            "occurred_at": event.occurred_at,
            "type_rank": EVENT_ORDER[event.event_type],
            "event_type": event.event_type.value,
            "source_system": event.source_system.value,
            "national_status": status_of(event),
            "summary": line.en,
            "summary_vi": line.vi,
            "actor": line.actor,
            "unit": line.unit,
            "agency_code": event.agency_code,
            "procedure_code": event.procedure_code,
            "source_ref": event.source_ref,
            "correlation_id": event.correlation_id,
            "recorded_at": event.recorded_at,
            "log_partition": 7,
            "log_offset": 1000 + offset,
        }
