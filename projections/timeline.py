"""The unified timeline: one row per event per dossier, from every system, in the order things happened.

Order is (occurred_at, lifecycle rank, event_id): a late event from a slower system sorts into its
place, and equal times break the same way on every replay. A duplicate delivery (an event id
already in the dossier's timeline) adds nothing.

The primary key (dossier_code, event_id) is the table's only index: every read is one dossier's
timeline, and an event id is unique within its dossier (it is derived from the source system,
record and event type, and a source record belongs to one dossier; the dossier_state fold counts
ids per dossier too). Version 2 had a key on event_id plus an index for reading by dossier: two
index entries per event, 7.3 against 4.0 us of PostgreSQL's CPU per row at 1M rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.dossier_fold import status_of
from hub.domain.events import EVENT_ORDER, Event
from hub.ports import Record
from hub.store.sql_store import insert_rows, select_in
from projections.timeline_text import describe

__all__ = ["TimelineProjection", "timeline_row"]


@cache
def _table(generation: int) -> sa.Table:
    name = f"timeline_g{generation}"
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("dossier_code", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type_rank", sa.SmallInteger, nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("source_system", sa.String(16), nullable=False),
        sa.Column("national_status", sa.SmallInteger),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("summary_vi", sa.Text, nullable=False),
        sa.Column("actor", sa.Text),
        sa.Column("unit", sa.Text),
        sa.Column("agency_code", sa.String(64)),
        sa.Column("procedure_code", sa.String(64)),
        sa.Column("source_ref", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_partition", sa.Integer, nullable=False),
        sa.Column("log_offset", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dossier_code", "event_id", name=f"pk_{name}"),
    )


def timeline_row(record: Record, event: Event) -> tuple[object, ...]:
    """The timeline row of one event, in the table's column order (first delivery's log position kept as
    the link to the log). A tuple, not a dict: COPY takes tuples, and a replay makes one per event."""
    line = describe(event)
    return (
        event.id_text,  # event_id
        event.dossier_code,
        event.occurred_at,
        EVENT_ORDER[event.event_type],  # type_rank
        event.event_type.value,
        event.source_system.value,
        status_of(event),  # national_status
        line.en,  # summary
        line.vi,  # summary_vi
        line.actor,
        line.unit,
        event.agency_code,
        event.procedure_code,
        event.source_ref,
        event.correlation_id,
        event.recorded_at,
        record.partition,  # log_partition
        record.offset,  # log_offset
    )


class TimelineProjection:
    name = "timeline"
    version = 3  # 2: national_status (the TrangThai each event sets); 3: keyed by (dossier_code, event_id) alone

    def tables(self, generation: int) -> Sequence[sa.Table]:
        return [_table(generation)]

    def views(self, generation: int, dialect: str) -> Sequence[tuple[str, str]]:
        local = (
            "(occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh')"
            if dialect == "postgresql"
            else "datetime(occurred_at, '+7 hours')"  # Vietnam has kept UTC+7, without DST, since 1975
        )
        columns = ", ".join(c.name for c in _table(generation).columns)
        return [("v_timeline", f"SELECT {columns}, {local} AS occurred_at_local FROM timeline_g{generation}")]

    def __init__(self) -> None:
        # Per store and generation: batches still to look up before inserting, after one met a duplicate.
        self._checked_batches: dict[tuple[str, int], int] = {}

    def apply(self, conn: Connection, generation: int, batch: Sequence[tuple[Record, Event]]) -> None:
        table = _table(generation)
        first: dict[tuple[str, str], tuple[Record, Event]] = {}
        for record, event in batch:
            first.setdefault((event.dossier_code, event.id_text), (record, event))
        # Rows are made as COPY takes them: never a whole batch of rows at once.
        where = (str(conn.engine.url), generation)
        checked = self._checked_batches.get(where, 0)
        if checked == 0:
            try:
                with conn.begin_nested():
                    insert_rows(conn, table, (timeline_row(record, event) for record, event in first.values()))
                return
            except sa.exc.IntegrityError:  # an event of this batch is already there: look them up
                checked = _CHECKED_AFTER_A_DUPLICATE
        self._checked_batches[where] = checked - 1
        codes = {code for code, _ in first}
        query = sa.select(table.c.dossier_code, table.c.event_id)
        present = {(code, event_id) for code, event_id in select_in(conn, query, table.c.dossier_code, codes)}
        rows = (timeline_row(record, event) for key, (record, event) in first.items() if key not in present)
        insert_rows(conn, table, rows)


_CHECKED_AFTER_A_DUPLICATE = 10
"""Redelivered events are rare, so a batch is first inserted as it is, the primary key catching any
event already there; only then (the savepoint rolled back) does it look up which ones are present,
and keeps looking up first for the next batches, since redeliveries come in runs. Looking up every
batch cost ~1.5 us an event, and PostgreSQL plans 10,000 keys against a 300,000-row table as a scan of
the whole table. The look-up reads the batch's dossiers' rows (a few each) through the key's prefix."""
