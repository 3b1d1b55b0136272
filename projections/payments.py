"""Payments: one row per fee assessment, under the PayGov reference (MaThamChieu) the hub pays it with.

The reference is derived from the FeeAssessed event id (``payment_ref``), so the payment policy, the
IPN endpoint and a replay all name the same payment without a lookup table. Each column is set by one
event type and equal events set equal values, so any delivery order gives the same row; a payment
confirmed after a failure (the citizen tried again) is ``paid``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.domain.events import Event, EventType
from hub.ports import Record
from hub.store.sql_store import replace_rows, select_in
from hub.store.utc import aware_row

__all__ = ["PAYMENT_TYPES", "PaymentsProjection", "payment_ref"]

_TS = sa.DateTime(timezone=True)
PAYMENT_TYPES = frozenset(
    {EventType.FEE_ASSESSED, EventType.PAYMENT_REQUESTED, EventType.PAYMENT_CONFIRMED, EventType.PAYMENT_FAILED}
)


def payment_ref(fee_event_id: str) -> str:
    """MaThamChieu for the fees of one FeeAssessed event: 20 characters, stable forever."""
    return "MC" + hashlib.sha256(fee_event_id.encode()).hexdigest()[:18].upper()


@cache
def _table(generation: int) -> sa.Table:
    s, b = sa.String(64), sa.BigInteger
    name = f"payments_g{generation}"
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("payment_ref", s, primary_key=True),
        sa.Column("dossier_code", s, nullable=False),
        *(sa.Column(n, s) for n in ("agency_code", "procedure_code", "fee_event_id")),
        sa.Column("fee_amount_vnd", b),
        sa.Column("assessed_at", _TS),
        sa.Column("requested_at", _TS),
        sa.Column("requested_amount_vnd", b),
        sa.Column("payment_url", sa.Text),
        sa.Column("paid_at", _TS),
        sa.Column("paid_amount_vnd", b),
        *(sa.Column(n, s) for n in ("transaction_id", "bank_code")),
        sa.Column("failed_at", _TS),
        sa.Column("failure_code", s),
        sa.Column("failure_reason", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Index(f"ix_{name}_state", "state", "requested_at"),
        sa.Index(f"ix_{name}_dossier", "dossier_code"),
    )


def _state(row: dict[str, Any]) -> str:
    if row.get("paid_at"):
        return "paid"
    if row.get("failed_at"):
        return "failed"
    return "requested" if row.get("requested_at") else "due"


def _fold(row: dict[str, Any], event: Event) -> None:
    p = event.payload
    row["agency_code"] = event.agency_code or row.get("agency_code")
    row["procedure_code"] = event.procedure_code or row.get("procedure_code")
    kind = event.event_type
    if kind is EventType.FEE_ASSESSED:
        row.update(fee_event_id=event.id_text, fee_amount_vnd=int(p["total_vnd"]), assessed_at=event.occurred_at)
    elif kind is EventType.PAYMENT_REQUESTED:
        if row.get("requested_at") is None or event.occurred_at < row["requested_at"]:
            row.update(
                requested_at=event.occurred_at, requested_amount_vnd=int(p["amount_vnd"]), payment_url=p["payment_url"]
            )
    elif kind is EventType.PAYMENT_CONFIRMED:
        if row.get("paid_at") is None or event.occurred_at < row["paid_at"]:
            row.update(
                paid_at=event.occurred_at,
                paid_amount_vnd=int(p["amount_vnd"]),
                transaction_id=p["transaction_id"],
                bank_code=p.get("bank_code"),
            )
    elif kind is EventType.PAYMENT_FAILED:  # the latest failure is the one shown
        held = (row["failed_at"], row["failure_code"]) if row.get("failed_at") else None
        if held is None or (event.occurred_at, str(p["error_code"])) > held:
            row.update(failed_at=event.occurred_at, failure_code=p["error_code"], failure_reason=p.get("reason"))


def _ref_of(event: Event) -> str | None:
    if event.event_type is EventType.FEE_ASSESSED:
        return payment_ref(event.id_text) if int(event.payload["total_vnd"]) > 0 else None
    if event.event_type in PAYMENT_TYPES:
        return str(event.payload["payment_ref"])
    return None


class PaymentsProjection:
    name = "payments"
    version = 1

    def tables(self, generation: int) -> Sequence[sa.Table]:
        return [_table(generation)]

    def views(self, generation: int, dialect: str) -> Sequence[tuple[str, str]]:
        return [("v_payments", f"SELECT * FROM payments_g{generation}")]

    def apply(self, conn: Connection, generation: int, batch: Sequence[tuple[Record, Event]]) -> None:
        table = _table(generation)
        by_ref: dict[str, list[Event]] = {}
        for _, event in batch:
            if event.event_type in PAYMENT_TYPES:  # most events are not about payments: spare them the call
                ref = _ref_of(event)
                if ref is not None:
                    by_ref.setdefault(ref, []).append(event)
        if not by_ref:
            return
        stored = {
            r.payment_ref: aware_row(dict(r._mapping))
            for r in select_in(conn, sa.select(table), table.c.payment_ref, by_ref)
        }
        rows = []
        for ref, events in by_ref.items():
            row = stored.get(ref) or {"payment_ref": ref, "dossier_code": events[0].dossier_code}
            before = dict(row)
            for event in events:
                _fold(row, event)
            row["state"] = _state(row)
            if row != before:
                rows.append({c.name: row.get(c.name) for c in table.columns})
        replace_rows(conn, table, "payment_ref", rows, stored)
