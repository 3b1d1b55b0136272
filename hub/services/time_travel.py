"""A dossier's state as of an instant: its events that occurred by then, read back from the log at
the positions the timeline projection recorded, folded exactly as the dossier_state projection folds.

"As of" is by occurred_at (business time): an event recorded late but occurred earlier counts, as
the dossier's own history would tell it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.domain.dossier_fold import DossierFold, derive
from hub.errors import HubError
from hub.log.codec import EventCodec
from hub.log.kafka_source import KafkaRecordSource
from hub.settings import Settings
from projections.registry import active_table

__all__ = ["state_as_of"]


def state_as_of(
    engine: Engine, settings: Settings, codec: EventCodec, code: str, at: datetime, *, max_events: int = 1000
) -> dict[str, Any] | None:
    """The dossier_state row as it was at ``at`` plus ``events_folded``; None when nothing occurred by then.
    Each event is read back from the log on its own: ValueError past ``max_events`` (no real dossier has
    that many) rather than an unbounded number of reads for one request."""
    with engine.connect() as conn:
        t = active_table(conn, "timeline")
        positions = conn.execute(
            sa.select(t.c.event_id, t.c.log_partition, t.c.log_offset)
            .where(t.c.dossier_code == code, t.c.occurred_at <= at)
            .order_by(t.c.log_partition, t.c.log_offset)
        ).all()
    if not positions:
        return None
    if len(positions) > max_events:
        raise ValueError(f"{code} has {len(positions)} events by then: more than the {max_events} read back at once")
    fold = DossierFold()
    by_partition: dict[int, list[tuple[str, int]]] = {}
    for event_id, partition, offset in positions:
        by_partition.setdefault(partition, []).append((event_id, offset))
    for partition, wanted in by_partition.items():
        source = KafkaRecordSource(settings, [settings.dossier_topic], from_beginning=True, partitions=[partition])
        try:
            for event_id, offset in wanted:
                source.seek(settings.dossier_topic, partition, offset)
                record = next((r for r in source.poll(max_records=1, timeout_s=5) if r.offset == offset), None)
                if record is None:
                    raise HubError(f"the log no longer has {settings.dossier_topic}[{partition}]@{offset} (retention?)")
                event = codec.decode(record.value)
                if event.id_text != event_id:
                    raise HubError(f"{settings.dossier_topic}[{partition}]@{offset} is not event {event_id}")
                fold.apply(event)
        finally:
            source.close()
    return derive(code, fold) | {"as_of": at, "events_folded": len(positions)}
