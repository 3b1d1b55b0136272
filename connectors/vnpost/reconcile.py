"""Postal reconciliation (``hub reconcile postal``): the hub's postal items against VNPost's order
list. Each disagreement is a report line and a DivergenceDetected event (source VNPOST).

Rules: ``unknown_at_hub`` (an order VNPost holds that the hub did not make), ``missing_at_vnpost``
(an item the hub recorded that VNPost does not hold), ``status_mismatch`` (VNPost's latest tracking
status is not the hub's: a callback lost and not yet polled), ``cod_mismatch`` (the COD amount
differs), ``order_mismatch`` (VNPost files the item under another dossier or direction).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.vnpost.client import VnpostClient
from connectors.vnpost.codes import ORDER_TYPES
from hub.domain.divergence import Finding, FindingReport
from projections.registry import active_table

__all__ = ["compare_item", "reconcile_postal"]


def _hub_items(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        table = active_table(conn, "postal")
        return {r.item_code: dict(r._mapping) for r in conn.execute(sa.select(table))}


def compare_item(item: str, hub: dict[str, Any] | None, vnpost: dict[str, Any] | None) -> list[Finding]:
    if hub is None:
        assert vnpost is not None
        return [Finding(str(vnpost.get("OrderNumber") or "UNKNOWN"), item, "ItemCode", item, None, "unknown_at_hub")]
    code = hub["dossier_code"]
    if vnpost is None:
        return [Finding(code, item, "ItemCode", None, item, "missing_at_vnpost")]
    out = []
    ours = (code, ORDER_TYPES.get(hub.get("direction") or "", None))
    theirs = (vnpost.get("OrderNumber"), vnpost.get("OrderType"))
    if hub.get("direction") is not None and ours != theirs:
        out.append(
            Finding(
                code,
                item,
                "OrderNumber/OrderType",
                "/".join(map(str, theirs)),
                "/".join(map(str, ours)),
                "order_mismatch",
            )
        )
    if vnpost.get("StatusCode") != hub.get("status_code"):
        out.append(
            Finding(code, item, "StatusCode", vnpost.get("StatusCode"), hub.get("status_code"), "status_mismatch")
        )
    if hub.get("cod_amount_vnd") is not None and vnpost.get("CODAmount") != hub["cod_amount_vnd"]:
        out.append(
            Finding(code, item, "CODAmount", str(vnpost.get("CODAmount")), str(hub["cod_amount_vnd"]), "cod_mismatch")
        )
    return out


def reconcile_postal(engine: Engine, client: VnpostClient) -> FindingReport:
    hub = _hub_items(engine)
    vnpost = {str(o.get("ItemCode")): o for o in client.orders()}
    report = FindingReport()
    for item in sorted(hub.keys() | vnpost.keys()):
        report.checked += 1
        report.findings += compare_item(item, hub.get(item), vnpost.get(item))
    return report
