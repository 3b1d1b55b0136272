"""Dossiers: search with filters, one dossier's state and timeline, its state as of an instant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from hub.api.auth import requires, spend
from hub.api.rows import json_row, table
from hub.api.unavailable import unavailable
from hub.errors import HubError
from hub.services.time_travel import state_as_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/dossiers", tags=["dossiers"], dependencies=[Depends(requires("viewer"))])
_HIDDEN = frozenset({"fold"})
Outcome = Literal["before_due", "on_due", "overdue", "no_due_date", "in_progress"]
Channel = Literal["DIRECT", "ONLINE", "POSTAL"]


@router.get("", summary="Search dossiers")
def search(
    request: Request,
    agency: Annotated[str | None, Query(max_length=64, description="agency_code")] = None,
    procedure: Annotated[str | None, Query(max_length=64, description="procedure_code")] = None,
    channel: Channel | None = None,
    outcome: Outcome | None = None,
    national_status: Annotated[int | None, Query(ge=1, le=10)] = None,
    open_only: Annotated[bool, Query(description="Only dossiers not finished, refused, withdrawn or stopped.")] = False,
    due_before: Annotated[datetime | None, Query(description="Due (current due date) before this instant.")] = None,
    code_prefix: Annotated[str | None, Query(max_length=64, description="Start of the dossier code.")] = None,
    sort: Annotated[
        Literal["received_desc", "due_asc"], Query(description="Newest received first, or soonest due first.")
    ] = "received_desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Matching dossiers with their total; columns as in `v_dossier`."""
    with request.app.state.engine.connect() as conn:
        t = table(conn, "dossier_state")
        where = []
        for column, value in (
            ("agency_code", agency),
            ("procedure_code", procedure),
            ("channel", channel),
            ("outcome", outcome),
            ("national_status", national_status),
        ):
            if value is not None:
                where.append(t.c[column] == value)
        if open_only:
            where += [t.c[c].is_(None) for c in ("finished_at", "refused_at", "withdrawn_at", "stopped_at")]
        if due_before is not None:
            where.append(t.c.due_at < due_before)
        if code_prefix:
            escaped = code_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(t.c.dossier_code.like(escaped + "%", escape="\\"))
        total = conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one()
        query = (
            sa.select(t)
            .where(*where)
            .order_by(
                *(
                    (t.c.received_at.desc().nulls_last(), t.c.dossier_code)
                    if sort == "received_desc"
                    else (t.c.due_at.asc().nulls_last(), t.c.dossier_code)
                )
            )
            .limit(limit)
            .offset(offset)
        )
        items = [json_row(r, _HIDDEN) for r in conn.execute(query)]
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def _one(request: Request, code: str) -> dict[str, Any]:
    with request.app.state.engine.connect() as conn:
        t = table(conn, "dossier_state")
        row = conn.execute(sa.select(t).where(t.c.dossier_code == code)).one_or_none()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dossier {code}")
    return json_row(row, _HIDDEN)


@router.get("/{code}", summary="One dossier's state")
def dossier(request: Request, code: str) -> dict[str, Any]:
    return _one(request, code)


@router.get("/{code}/timeline", summary="One dossier's timeline")
def timeline(request: Request, code: str) -> dict[str, Any]:
    """Every event of the dossier in occurred_at order (stable tie-break), with English and Vietnamese summaries."""
    with request.app.state.engine.connect() as conn:
        t = table(conn, "timeline")
        rows = conn.execute(
            sa.select(t).where(t.c.dossier_code == code).order_by(t.c.occurred_at, t.c.type_rank, t.c.event_id)
        ).all()
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dossier {code}")
    return {"dossier_code": code, "events": [json_row(r) for r in rows]}


@router.get("/{code}/as-of", summary="One dossier's state as of an instant")
def as_of(request: Request, code: str, at: datetime) -> dict[str, Any]:
    """The state the dossier had at ``at`` (timezone required): its events that occurred by then, read
    back from the log at the positions the timeline recorded, folded as the dossier_state projection does."""
    if at.tzinfo is None:
        raise HTTPException(422, "`at` needs a time zone, e.g. 2026-03-02T09:00+07:00")
    spend(request, 4)  # reads the dossier's events back from the log, one by one
    try:
        state = request.app.state
        found = state_as_of(state.engine, state.settings, state.codec, code, at)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    except HubError as exc:
        raise unavailable(exc, "time travel") from exc
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event of dossier {code} occurred by {at.isoformat()}")
    return found
