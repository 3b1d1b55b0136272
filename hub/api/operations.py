"""What provincial IT watches and does: connectors, projections, results sync, reports, dead letters."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from hub.api.auth import requires
from hub.api.rows import json_row, table
from hub.bootstrap import make_log_end
from hub.connector_state import ConnectorStateStore
from hub.errors import HubError
from hub.identity import redact
from hub.indicators import build_report, period_of, select_groups
from hub.projection_store import projection_status
from projections.registry import PROJECTIONS
from projections.results import RESULT_STATES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", dependencies=[Depends(requires("viewer"))])


@router.get("/connectors", tags=["operations"], summary="Connector status")
def connectors(request: Request) -> dict[str, Any]:
    """Each connector's cursor, breaker state, counters and last error (identity-shaped numbers masked)."""
    states = ConnectorStateStore(request.app.state.engine).all()
    return {
        "connectors": [
            {
                "name": s.name,
                "cursor": s.cursor,
                "breaker_state": s.breaker_state,
                "counters": s.counters,
                "last_error": redact(s.last_error) if s.last_error else None,
                "updated_at": s.updated_at,
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
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return select_groups(found, only or ())
