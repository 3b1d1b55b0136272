"""Refused callbacks, recorded as security events (hub_security_events) and logged: never as
payments or tracking. Details are written by the hub (no raw identity numbers: callbacks carry none)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.store.sql_store import security_events_table

__all__ = ["record_refusal", "refusals"]

log = logging.getLogger(__name__)


def record_refusal(
    engine: Engine,
    source: str,
    kind: str,
    detail: str,
    *,
    reference: str | None = None,
    dossier_code: str | None = None,
    remote: str | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(security_events_table).values(
                at=datetime.now(UTC),
                source=source,
                kind=kind,
                reference=(reference or "")[:64] or None,
                dossier_code=dossier_code,
                remote=remote,
                detail=detail[:500],
            )
        )
    log.warning(
        "%s callback refused (%s): %s",
        source,
        kind,
        detail[:200],
        extra={"security_event": kind, "reference": reference, "remote": remote},
    )


def refusals(engine: Engine, source: str | None = None) -> dict[str, int]:
    """Refused callbacks by kind."""
    t = security_events_table
    query = sa.select(t.c.kind, sa.func.count()).group_by(t.c.kind)
    if source:
        query = query.where(t.c.source == source)
    with engine.connect() as conn:
        return {kind: int(n) for kind, n in conn.execute(query)}
