"""The hub's book of payments: which amount each reference is for, and the outcome recorded for it.

``settle`` is the one way a payment outcome enters the log, for IPNs and QUERY answers alike: under
the reference's row lock it emits PaymentConfirmed or PaymentFailed only when the book has no
outcome yet (or a failure, when a later try paid), then records it, in one database transaction.
A crash between the emit and the commit leaves the outcome unrecorded; the next callback or QUERY
emits the same event again under the same deterministic id, which the projections ignore.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.domain.events import EventType, SourceSystem, new_event
from hub.errors import MissingProjectionError
from hub.ports import EventLog
from hub.store.sql_store import paygov_table, upsert
from projections.registry import active_table

__all__ = ["Expected", "PaymentBook"]

P = paygov_table


@dataclass(frozen=True)
class Expected:
    """What the hub asked to be paid under a reference."""

    ref: str
    dossier_code: str
    amount_vnd: int
    agency_code: str | None = None
    procedure_code: str | None = None


class PaymentBook:
    def __init__(self, engine: Engine, events: EventLog) -> None:
        self.engine = engine
        self.events = events

    def payments(self, conn: Connection) -> sa.Table | None:
        """The live table of the payments projection (None before its first run)."""
        try:
            return active_table(conn, "payments")
        except MissingProjectionError:
            return None

    def expected(self, ref: str) -> Expected | None:
        """From the policy's memory of its INIT, else from the fee assessment the reference derives from."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(P.c.dossier_code, P.c.amount_vnd).where(P.c.payment_ref == ref)).first()
            if row is not None:
                return Expected(ref, row.dossier_code, int(row.amount_vnd))
            table = self.payments(conn)
            if table is None:
                return None
            q = sa.select(table.c.dossier_code, table.c.fee_amount_vnd, table.c.agency_code, table.c.procedure_code)
            found = conn.execute(q.where(table.c.payment_ref == ref, table.c.fee_amount_vnd.is_not(None))).first()
        if found is None:
            return None
        return Expected(ref, found.dossier_code, int(found.fee_amount_vnd), found.agency_code, found.procedure_code)

    def settle(
        self,
        expected: Expected,
        *,
        paid: bool,
        at: datetime,
        transaction_id: str,
        bank_code: str | None,
        error_code: str,
        reason: str | None,
    ) -> str:
        """Record an outcome the gateway vouched for: ``recorded``, ``duplicate`` or ``stale`` (a failure
        reported after the payment succeeded)."""
        ref = expected.ref
        with self.engine.begin() as conn:
            held = conn.execute(sa.select(P.c.outcome).where(P.c.payment_ref == ref).with_for_update()).scalar()
            if held == "paid":
                return "duplicate" if paid else "stale"
            if held == "failed" and not paid:
                return "duplicate"
            payload: dict[str, Any] = {"payment_ref": ref, "amount_vnd": expected.amount_vnd}
            if paid:
                payload.update(transaction_id=transaction_id, bank_code=bank_code)
            else:
                payload.update(error_code=error_code, reason=reason)
            self.events.append(
                [
                    new_event(
                        EventType.PAYMENT_CONFIRMED if paid else EventType.PAYMENT_FAILED,
                        dossier_code=expected.dossier_code,
                        source_system=SourceSystem.PAYGOV,
                        source_ref=ref,
                        occurred_at=at,
                        payload=payload,
                        agency_code=expected.agency_code,
                        procedure_code=expected.procedure_code,
                        correlation_id=ref,
                    )
                ]
            )
            upsert(
                conn,
                P,
                [
                    {
                        "payment_ref": ref,
                        "dossier_code": expected.dossier_code,
                        "amount_vnd": expected.amount_vnd,
                        "outcome": "paid" if paid else "failed",
                        "outcome_at": at,
                        "transaction_id": transaction_id,
                        "updated_at": datetime.now(UTC),
                    }
                ],
            )
        return "recorded"
