"""Postal items: one row per VNPost item (ItemCode), its order and its tracking.

Tracking updates arrive late, twice and out of order (pushed callbacks and queries both feed the
log), so a row keeps the distinct updates as a small sorted history and its current status is the
latest by time, not the last delivered. A failed delivery flags the item until it is delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.events import Event, EventType
from hub.ports import Record
from hub.store.sql_store import dumps, loads, replace_rows, select_in
from hub.store.utc import aware_row

__all__ = ["POSTAL_STATUSES", "PostalProjection"]

_TS = sa.DateTime(timezone=True)
POSTAL_STATUSES = (
    "ACCEPTED",
    "PICKED_UP",
    "IN_TRANSIT",
    "OUT_FOR_DELIVERY",
    "DELIVERY_FAILED",
    "DELIVERED",
    "RETURNED_TO_SENDER",
    "CANCELLED",
    "UNKNOWN",
)
_RANK = {status: rank for rank, status in enumerate(POSTAL_STATUSES)}  # tie-break of equal times
_FINAL = {"DELIVERED", "RETURNED_TO_SENDER", "CANCELLED"}


@cache
def _table(generation: int) -> sa.Table:
    s = sa.String(64)
    name = f"postal_items_g{generation}"
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("item_code", sa.String(32), primary_key=True),
        sa.Column("dossier_code", s, nullable=False),
        *(sa.Column(n, s) for n in ("direction", "agency_code", "procedure_code", "customer_code")),
        sa.Column("cod_amount_vnd", sa.BigInteger),
        sa.Column("receiver_province", s),
        sa.Column("ordered_at", _TS),
        sa.Column("status", s),
        sa.Column("status_code", s),
        sa.Column("status_at", _TS),
        sa.Column("location", sa.Text),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("delivered_at", _TS),
        sa.Column("delivery_failures", sa.Integer, nullable=False),
        sa.Column("flag", s),
        sa.Column("history", sa.Text, nullable=False),
        sa.Index(f"ix_{name}_dossier", "dossier_code", "direction"),
        sa.Index(f"ix_{name}_status", "final", "status_at"),
    )


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _derive(row: dict[str, Any]) -> None:
    history = sorted(row["_history"], key=lambda h: (h[0], _RANK.get(h[1], 99), h[2]))
    row["history"] = dumps(history)
    if history:
        at, status, code, location = history[-1]
        row.update(status=status, status_code=code, status_at=_at(at), location=location)
    delivered = [h for h in history if h[1] == "DELIVERED"]
    row["delivered_at"] = _at(delivered[0][0]) if delivered else None
    row["delivery_failures"] = sum(1 for h in history if h[1] == "DELIVERY_FAILED")
    row["final"] = row.get("status") in _FINAL
    if row.get("status") == "RETURNED_TO_SENDER":
        row["flag"] = "returned_to_sender"
    elif row["delivery_failures"] and not delivered:
        row["flag"] = "delivery_failed"
    else:
        row["flag"] = None


def _fold(row: dict[str, Any], event: Event) -> None:
    p = event.payload
    row["agency_code"] = event.agency_code or row.get("agency_code")
    row["procedure_code"] = event.procedure_code or row.get("procedure_code")
    if event.event_type is EventType.POSTAL_ORDER_CREATED:
        if row.get("ordered_at") is None or event.occurred_at <= row["ordered_at"]:
            row.update(
                direction=p["direction"],
                customer_code=p.get("customer_code"),
                cod_amount_vnd=int(p.get("cod_amount_vnd") or 0),
                receiver_province=p.get("receiver_province"),
                ordered_at=event.occurred_at,
            )
    else:
        entry = [event.occurred_at.isoformat(), p["status"], p["status_code"], p.get("location")]
        if entry not in row["_history"]:
            row["_history"].append(entry)


def _load(row: Any) -> dict[str, Any]:
    out = aware_row(row)
    out["_history"] = loads(str(out["history"]))
    return out


class PostalProjection:
    name = "postal"
    version = 1

    def tables(self, generation: int) -> Sequence[sa.Table]:
        return [_table(generation)]

    def views(self, generation: int, dialect: str) -> Sequence[tuple[str, str]]:
        return [("v_postal", f"SELECT * FROM postal_items_g{generation}")]

    def apply(self, conn: Connection, generation: int, batch: Sequence[tuple[Record, Event]]) -> None:
        table = _table(generation)
        by_item: dict[str, list[Event]] = {}
        for _, event in batch:
            if event.event_type in (EventType.POSTAL_ORDER_CREATED, EventType.POSTAL_STATUS_CHANGED):
                by_item.setdefault(str(event.payload["item_code"]), []).append(event)
        if not by_item:
            return
        stored = {r.item_code: _load(r._mapping) for r in select_in(conn, sa.select(table), table.c.item_code, by_item)}
        rows = []
        for item, events in by_item.items():
            row = stored.get(item) or {"item_code": item, "dossier_code": events[0].dossier_code, "_history": []}
            before = {k: v for k, v in row.items() if k != "_history"}
            for event in events:
                _fold(row, event)
            _derive(row)
            values = {c.name: row.get(c.name) for c in table.columns}
            if values != {c.name: before.get(c.name) for c in table.columns}:
                rows.append(values)
        replace_rows(conn, table, "item_code", rows, stored)
