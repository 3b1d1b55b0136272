"""What provincial IT watches and does: connectors, projections, results sync, reports, dead letters."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from hub import bootstrap
from hub.api.auth import requires, spend
from hub.api.rows import json_row, table
from hub.api.unavailable import unavailable
from hub.bootstrap import RECONCILIATIONS, make_log_end
from hub.domain.events import LOCAL_TZ
from hub.domain.identity import redact
from hub.errors import HubError
from hub.services.indicators import build_report, period_of, select_groups
from hub.store.connector_state import ConnectorStateStore
from hub.store.projection_store import info, projection_status
from hub.store.utc import aware
from projections.registry import PROJECTIONS
from projections.results import RESULT_STATES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(requires("viewer"))])


@router.get("/connectors", tags=["operations"], summary="Connector status")
def connectors(request: Request) -> dict[str, Any]:
    """Each connector's cursor, breaker state, counters, last error (identity-shaped numbers masked) and
    seconds since it last recorded anything."""
    states = ConnectorStateStore(request.app.state.engine).all()
    now = datetime.now(UTC)
    return {
        "connectors": [
            {
                "name": s.name,
                "cursor": s.cursor,
                "breaker_state": s.breaker_state,
                "counters": s.counters,
                "last_error": redact(s.last_error) if s.last_error else None,
                "updated_at": aware(s.updated_at),
                # How long since the connector last recorded progress or trouble: its lag as far as the
                # hub can tell (a change feed does not say how much the upstream still holds).
                "seconds_since_update": round((now - aware(s.updated_at)).total_seconds(), 1) if s.updated_at else None,
            }
            for s in states
        ]
    }


@router.get("/projections", tags=["operations"], summary="Projection status")
def projections(request: Request) -> dict[str, Any]:
    """Generation, version, rebuild in progress, offsets and lag (null when the broker cannot be reached)."""
    try:
        ends: dict[tuple[str, int], int] | None = make_log_end(request.app.state.settings)()
    except HubError:
        ends = None
    return {"projections": projection_status(request.app.state.engine, list(PROJECTIONS), ends)}


@router.get("/results", tags=["operations"], summary="Digitised results sync state")
def results(
    request: Request,
    state: Literal["pending", "synced", "failed", "drifted", "revoked", "replaced"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Counts by state; with ``state``, the oldest results in it."""
    with request.app.state.engine.connect() as conn:
        t = table(conn, "results")
        counts = dict(conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all())
        items = []
        if state:
            query = sa.select(
                t.c.result_code, t.c.dossier_code, t.c.state, t.c.attempts, t.c.last_error, t.c.drift, t.c.digitised_at
            )
            items = [
                json_row(r)
                for r in conn.execute(query.where(t.c.state == state).order_by(t.c.digitised_at).limit(limit))
            ]
    return {"counts": {s: counts.get(s, 0) for s in RESULT_STATES}, "items": items}


@router.get("/summary", tags=["indicators"], summary="What the read store holds")
def summary(request: Request) -> dict[str, Any]:
    """Dossier count, the latest reception (local day: where a dashboard's period starts), the agencies, and
    the hub's business time now (what due lists compare with; compressed in the demo)."""
    with request.app.state.engine.connect() as conn:
        t = table(conn, "dossier_state")
        count, latest = conn.execute(sa.select(sa.func.count(), sa.func.max(t.c.received_at))).one()
        agencies = [a for (a,) in conn.execute(sa.select(t.c.agency_code).distinct().order_by(t.c.agency_code)) if a]
    latest = aware(latest)
    return {
        "dossiers": count,
        "latest_received_at": latest,
        "latest_local_day": latest.astimezone(LOCAL_TZ).date() if latest else None,
        "agencies": agencies,
        "business_now": request.app.state.clock.now(),
    }


@router.get("/reports/trend", tags=["indicators"], summary="Monthly trend")
def trend(
    request: Request,
    until: Annotated[date | None, Query(description="A day in the last month (default: the latest reception).")] = None,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
    agency: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """One row per month (oldest first) with the receipts, resolution and on-time figures of that month.
    Each month is a report: the key's request budget pays one per month."""
    spend(request, months - 1)
    last = until or summary(request)["latest_local_day"]
    if last is None:
        return {"months": []}
    if not date(1901, 1, 1) <= last <= date(9998, 12, 31):
        raise HTTPException(422, "`until` is outside the calendar the hub reports on")
    out = []
    year, month = last.year, last.month
    for _ in range(months):
        period = period_of("month", date(year, month, 1))
        row = build_report(request.app.state.engine, period, agency)["rows"][-1]
        keys = ("received", "resolved", "before_due", "on_due", "overdue", "on_time_rate", "in_progress")
        out.append({"month": f"{year:04d}-{month:02d}", **{k: row[k] for k in keys}})
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        if year < 1901:
            break
    return {"agency": agency or "ALL", "months": list(reversed(out))}


@router.get("/reports", tags=["indicators"], summary="Indicator report")
def reports(
    request: Request,
    period: Literal["day", "month", "quarter", "year"] = "month",
    on: date | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    only: Annotated[list[Literal["receipts", "resolution", "satisfaction", "766"]] | None, Query()] = None,
) -> dict[str, Any]:
    """The same object as `hub report --format json`: ``period`` and ``rows`` (one per agency, then ALL)."""
    if (from_ is None) != (to is None):
        raise HTTPException(422, "`from` and `to` go together")
    try:
        chosen = period_of("range" if from_ else period, on, from_, to)
        chosen.bounds  # noqa: B018  # dates at the ends of the calendar have no instant bounds: refuse them here
    except (HubError, ValueError, OverflowError) as exc:
        raise HTTPException(422, f"bad period: {exc}") from exc
    try:
        found = build_report(request.app.state.engine, chosen, agency)
    except HubError as exc:
        raise unavailable(exc, "the report") from exc
    return select_groups(found, only or ())


@router.post(
    "/reconcile/{target}",
    tags=["operations"],
    summary="Run a reconciliation now",
    dependencies=[Depends(requires("operator"))],
)
def reconcile(request: Request, target: Literal["dvcqg", "payments", "postal", "results"]) -> dict[str, Any]:
    """What `hub reconcile TARGET --json` does: differences become DivergenceDetected events and lines,
    repairable ones are repaired; ``unresolved`` says whether anything still disagrees."""
    try:
        outcome = RECONCILIATIONS[target](request.app.state.settings)
    except HubError as exc:
        raise unavailable(exc, f"reconciliation {target}") from exc
    return {"target": target, "summary": outcome.summary, "unresolved": outcome.unresolved, "lines": outcome.lines}


@router.post(
    "/projections/{name}/rebuild",
    tags=["operations"],
    summary="Rebuild a projection without downtime",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(requires("operator"))],
)
def rebuild(
    request: Request,
    name: Literal["timeline", "dossier_state", "payments", "postal", "results"],
    resume: Annotated[bool, Query(description="Take over an unfinished rebuild (one whose process died).")] = False,
) -> dict[str, Any]:
    """Start replaying the log into a new generation while the current one keeps serving; it swaps when
    caught up. Follow it in GET /api/v1/projections (``building_generation``). 409 while one is under way
    (pass ``resume`` to take over one whose process is gone)."""
    running: dict[str, threading.Thread] = request.app.state.rebuilds
    with request.app.state.engine.connect() as conn:
        found = info(conn, name)
    if name in running and running[name].is_alive():
        raise HTTPException(status.HTTP_409_CONFLICT, f"{name} is being rebuilt by this API process")
    if found is not None and found.building_generation and not resume:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{name} has a rebuild under way into generation {found.building_generation} (resume=true takes it over)",
        )
    settings = request.app.state.settings
    worker = threading.Thread(target=bootstrap.rebuild, args=(settings, PROJECTIONS[name]), daemon=True)
    running[name] = worker
    worker.start()
    return {"rebuilding": name}
