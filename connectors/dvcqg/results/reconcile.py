"""Results reconciliation (``hub reconcile results``, and periodically in the running sync): the
one-stop's list of digitised results, the hub's results projection and the national data store.

Each disagreement is a report line and an event on the dossier's timeline:
- ``missing_in_hub``: the one-stop has a result the hub never recorded (report: the hub cannot
  rebuild the claim-check without the one-stop's change record);
- ``source_changed``: the one-stop's file is not the one the hub recorded (report);
- ``missing_at_onestop``: the hub has a result the one-stop no longer lists (report);
- ``missing_in_store`` / ``differs_in_store``: a result the hub synced is absent from the store,
  or its file hash, owner or metadata differ (drift): a DivergenceDetected about the result, which
  marks it drifted, and the sync policy repairs it (the hub is authoritative for what it sends);
- ``revoked_in_store``: the store revoked it: ResultRevoked (a legal act: never undone by the hub);
- ``unknown_in_store``: the store holds a result the hub does not know (report).
Results not yet synced are the policy's business and only compared with the one-stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from connectors.common.json_api import read_retrying
from connectors.dvcqg.client import PortalError
from connectors.dvcqg.results.sync import ResultsSync, ResultWork
from connectors.onestop.client import OnestopUpstream
from hub.domain.divergence import Finding, FindingReport, divergence_event
from hub.domain.events import Event, EventType, SourceSystem, new_event
from projections.registry import active_table

__all__ = ["reconcile_results", "store_results"]

_ONESTOP_RULES = {"missing_in_hub", "source_changed", "missing_at_onestop"}  # not drift in the store: no repair


def store_results(sync: ResultsSync, page_size: int = 500) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        params = {"trang": page, "so_ban_ghi": page_size}
        body = read_retrying(sync.client.call, "GET", "/api/kho/ketqua", params=params)
        if str(body.get("error_code")) != "0" or not isinstance(body.get("data"), list):
            raise PortalError(str(body.get("error_code")), f"store list page {page}: {body.get('message')}")
        yield from (r for r in body["data"] if isinstance(r, dict))
        if not body["data"] or page * page_size >= int(body.get("tong_so") or 0):
            return
        page += 1


def _hub_rows(sync: ResultsSync) -> dict[str, dict[str, Any]]:
    with sync.engine.connect() as conn:
        table = active_table(conn, "results")
        rows = [dict(r._mapping) for r in conn.execute(sa.select(table))]
    return {r["result_code"]: r for r in rows}


def reconcile_results(sync: ResultsSync, onestop: OnestopUpstream | None = None) -> tuple[FindingReport, list[Event]]:
    """The findings and the events that record them (the caller appends them to the log)."""
    hub = _hub_rows(sync)
    store = {str(r.get("Ma")): r for r in store_results(sync)}
    source = {str(r.get("Ma")): r for r in onestop.results()} if onestop is not None else None
    report, events = FindingReport(), []
    for code in sorted(hub.keys() | store.keys() | (source.keys() if source is not None else set())):
        row, stored = hub.get(code), store.get(code)
        report.checked += 1
        found: list[Finding] = []
        if source is not None:
            one = source.get(code)
            if one is not None and row is None:
                found.append(Finding("UNKNOWN", code, "Ma", code, None, "missing_in_hub"))
            elif one is not None and row is not None:
                theirs = (one.get("TepTin") or {}).get("MaBam")
                if theirs != row["source_sha256"]:
                    found.append(
                        Finding(row["dossier_code"], code, "MaBam", theirs, row["source_sha256"], "source_changed")
                    )
            elif row is not None and row["state"] not in ("revoked", "replaced"):
                found.append(Finding(row["dossier_code"], code, "Ma", None, code, "missing_at_onestop"))
        if row is None:
            if stored is not None:
                found.append(
                    Finding(str(stored.get("MaHoSo") or "UNKNOWN"), code, "Ma", code, None, "unknown_in_store")
                )
        elif row["state"] in ("synced", "drifted"):
            found += _against_store(row, stored)
        for f in found:
            report.findings.append(f)
            if f.dossier_code == "UNKNOWN":
                continue  # no dossier to put it on: the report line is the record
            events.append(_event(f, row))
    return report, events


def _against_store(row: dict[str, Any], stored: dict[str, Any] | None) -> list[Finding]:
    code, dossier = row["result_code"], row["dossier_code"]
    if stored is None:
        return [Finding(dossier, code, "Ma", None, code, "missing_in_store")]
    if stored.get("TrangThai") == "THU_HOI":
        return [Finding(dossier, code, "TrangThai", "THU_HOI", "HIEU_LUC", "revoked_in_store")]
    why = ResultsSync.echo_differs(ResultWork(row, {}), stored)
    if why is None:
        return []
    name = why.split(" ", 1)[0]
    ours = {"MaBam": row["source_sha256"], "ChuSoHuu": row["owner_masked"], "TrangThai": "HIEU_LUC"}.get(
        name, "hub copy"
    )
    theirs = stored.get(name) if name in ("MaBam", "TrangThai") else "differs"
    return [Finding(dossier, code, name, str(theirs), str(ours), "differs_in_store")]


def _event(f: Finding, row: dict[str, Any] | None) -> Event:
    agency = row.get("agency_code") if row else None
    procedure = row.get("procedure_code") if row else None
    if f.rule == "revoked_in_store":
        return new_event(
            EventType.RESULT_REVOKED,
            dossier_code=f.dossier_code,
            source_system=SourceSystem.DVCQG,
            source_ref=f"{f.subject}:revoked",
            occurred_at=datetime.now(UTC),
            payload={"result_code": f.subject, "revoked_by": None, "reason": "found revoked by reconciliation"},
            agency_code=agency,
            procedure_code=procedure,
        )
    synced = row.get("synced_at") if row else None
    return divergence_event(  # the id names the sync it contradicts: the same drift after a repair is new
        f.dossier_code,
        f"{f.subject}@{synced.isoformat() if synced else '-'}",
        f.field,
        f.system_value,
        f.hub_value,
        f.rule,
        source_system=SourceSystem.ONESTOP if f.rule in _ONESTOP_RULES else SourceSystem.DVCQG,
        agency_code=agency,
        procedure_code=procedure,
        about=f.subject,
    )
