"""Payment reconciliation (``hub reconcile payments``): the hub's fees and payments against PayGov's
settlement statement. Each disagreement is a report line and a DivergenceDetected event on the
dossier's timeline (source PAYGOV).

Rules: ``unknown_at_hub`` (a transaction the hub never asked for), ``missing_at_gateway`` (a payment
the hub started or recorded that PayGov does not hold), ``unconfirmed_payment`` (PayGov settled it,
the hub has no confirmation), ``paid_in_hub_only`` (the hub recorded a payment PayGov does not show
as successful: reversed, failed or pending), ``amount_mismatch`` (PayGov's amount is not the hub's),
``fee_request_mismatch`` (the amount asked is not the fee assessed). Payments started less than
``in_flight_s`` ago and still pending are left to the re-query job, not reported.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.paygov.book import PaymentBook
from connectors.paygov.client import PayGovClient
from hub.domain.divergence import Finding, FindingReport
from hub.store.sql_store import paygov_table
from hub.store.utc import aware
from projections.registry import active_table

__all__ = ["reconcile_payments"]

SUCCESS = 1
P = paygov_table


def _hub_payments(book: PaymentBook) -> dict[str, dict[str, Any]]:
    """Every payment reference the hub asked PayGov about, with what it knows of it."""
    with book.engine.connect() as conn:
        table = active_table(conn, "payments")
        rows = {r.payment_ref: dict(r._mapping) for r in conn.execute(sa.select(table))}
        memory = {r.payment_ref: dict(r._mapping) for r in conn.execute(sa.select(P))}
    out = {}
    for ref in rows.keys() | memory.keys():
        row, mem = rows.get(ref, {}), memory.get(ref, {})
        if not (row.get("requested_at") or row.get("paid_at") or row.get("failed_at") or mem.get("initiated")):
            continue  # assessed, never sent: the payment policy's business
        out[ref] = {**row, "memory": mem, "dossier_code": row.get("dossier_code") or mem.get("dossier_code")}
    return out


def compare_payment(ref: str, hub: dict[str, Any] | None, gateway: dict[str, Any] | None) -> list[Finding]:
    """The disagreements about one reference (pure)."""
    if hub is None:
        assert gateway is not None
        code = str(gateway.get("MaHoSo") or "UNKNOWN")
        return [Finding(code, ref, "MaThamChieu", ref, None, "unknown_at_hub")]
    code = hub["dossier_code"]
    paid = hub.get("state") == "paid"
    if gateway is None:
        return [Finding(code, ref, "MaThamChieu", None, ref, "missing_at_gateway")]
    out = []
    settled = gateway.get("TrangThaiGD") == SUCCESS
    if settled and not paid:
        out.append(
            Finding(code, ref, "TrangThaiGD", str(gateway.get("TrangThaiGD")), hub.get("state"), "unconfirmed_payment")
        )
    if paid and not settled:
        out.append(Finding(code, ref, "TrangThaiGD", str(gateway.get("TrangThaiGD")), "paid", "paid_in_hub_only"))
    ours = hub.get("paid_amount_vnd") or hub.get("requested_amount_vnd") or hub["memory"].get("amount_vnd")
    if ours is not None and gateway.get("SoTien") != ours:
        out.append(Finding(code, ref, "SoTien", str(gateway.get("SoTien")), str(ours), "amount_mismatch"))
    fee, asked = hub.get("fee_amount_vnd"), hub.get("requested_amount_vnd")
    if fee is not None and asked is not None and fee != asked:
        out.append(Finding(code, ref, "fee_amount_vnd", str(asked), str(fee), "fee_request_mismatch"))
    return out


def reconcile_payments(book: PaymentBook, client: PayGovClient, *, in_flight_s: float = 1800.0) -> FindingReport:
    """Compare, and put every finding on the log as a DivergenceDetected event."""
    hub = _hub_payments(book)
    gateway = {str(t.get("MaThamChieu")): t for t in client.statement()}
    recent = datetime.now(UTC) - timedelta(seconds=in_flight_s)
    report = FindingReport()
    for ref in sorted(hub.keys() | gateway.keys()):
        mine = hub.get(ref)
        started = aware((mine or {}).get("memory", {}).get("initiated_at"))
        if mine and mine.get("state") == "requested" and started and started > recent:
            continue  # still in flight: the re-query job's business
        report.checked += 1
        report.findings += compare_payment(ref, mine, gateway.get(ref))
    return report
