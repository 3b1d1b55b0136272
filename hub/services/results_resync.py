"""Sending digitised results again: clear the results sync's retry state of matching results, so the
running results-sync policy takes them at its next pass (parked ones included)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.store.sql_store import results_sync_table
from projections.registry import active_table

__all__ = ["RESYNC_STATES", "resync_results"]

RESYNC_STATES = ("failed", "pending", "drifted")
_CHUNK = 500  # codes per UPDATE: well under every engine's limit on bound parameters


def resync_results(engine: Engine, state: str, *, agency: str | None = None, dossier: str | None = None) -> int:
    """Clear the retry state of the results in ``state`` (of one agency, one dossier); how many."""
    if state not in RESYNC_STATES:
        raise ValueError(f"results in state {state!r} cannot be re-sent (one of {', '.join(RESYNC_STATES)})")
    m = results_sync_table
    with engine.begin() as conn:
        t = active_table(conn, "results")
        query = sa.select(t.c.result_code).where(t.c.state == state)
        if agency:
            query = query.where(t.c.agency_code == agency)
        if dossier:
            query = query.where(t.c.dossier_code == dossier)
        codes = [c for (c,) in conn.execute(query)]
        for start in range(0, len(codes), _CHUNK):
            reset = sa.update(m).where(m.c.result_code.in_(codes[start : start + _CHUNK]))
            conn.execute(reset.values(attempts=0, attempt_digest=None, next_attempt_at=None))
    return len(codes)
