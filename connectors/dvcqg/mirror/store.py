"""The national mirror's work list and memory, in the read store.

Work comes from the live generation of the dossier_state projection (``mirror_pending``: the
portal is behind the hub's ``portal_version``) joined with ``hub_dvcqg_mirror``, what this policy
has already had acknowledged. A dossier is only handed out when the timeline holds every event its
portal_version counts, so the steps sent are complete for that version even when the two
projections run in separate processes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from connectors.dvcqg.mirror.payload import dossier_item, step_item
from hub.domain.dossier_fold import PORTAL_TYPES, STEP_TYPES
from hub.runtime.policy_loop import retry_due
from hub.store.sql_store import dumps, loads, mirror_table, select_in, upsert
from projections.registry import active_table

__all__ = ["MirrorStore", "Outbox", "Work"]

MIRROR = mirror_table
_PORTAL_NAMES = sorted(t.value for t in PORTAL_TYPES)
_STEP_NAMES = {t.value for t in STEP_TYPES}


@dataclass
class Outbox:
    """What the portal acknowledged for one dossier, and where its retries stand."""

    dossier_code: str
    sent_version: int = 0
    sent_digest: str | None = None
    on_portal: bool = False
    acked_steps: set[str] = field(default_factory=set)
    uncertain: bool = False  # the last call's outcome is unknown (timeout): look before re-sending steps
    attempt_version: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None

    def values(self) -> dict[str, Any]:
        return {
            "dossier_code": self.dossier_code,
            "sent_version": self.sent_version,
            "sent_digest": self.sent_digest,
            "on_portal": self.on_portal,
            "acked_steps": dumps(sorted(self.acked_steps)),
            "uncertain": self.uncertain,
            "attempt_version": self.attempt_version,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "updated_at": datetime.now(UTC),
        }


@dataclass
class Work:
    """One dossier to mirror (or check): its version, header record and steps, and our memory of it."""

    code: str
    version: int
    mirror_version: int
    national_status: int
    agency_code: str | None
    procedure_code: str | None
    row: dict[str, Any]
    item: dict[str, Any]
    steps: list[tuple[str, dict[str, Any]]]  # (event id, step record), in time order
    outbox: Outbox


def _outbox(row: Any) -> Outbox:
    return Outbox(
        row.dossier_code,
        row.sent_version,
        row.sent_digest,
        row.on_portal,
        set(loads(row.acked_steps)),
        row.uncertain,
        row.attempt_version,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
    )


class MirrorStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _tables(self, conn: Connection) -> tuple[sa.Table, sa.Table]:
        return active_table(conn, "dossier_state"), active_table(conn, "timeline")

    def pending(self, limit: int, *, max_attempts: int, now: datetime | None = None) -> list[Work]:
        """Dossiers the portal is behind on, not waiting out a backoff nor parked after ``max_attempts``
        (a newer version of the dossier ends both)."""
        now = now or datetime.now(UTC)
        with self.engine.connect() as conn:
            state, timeline = self._tables(conn)
            due = sa.or_(
                MIRROR.c.dossier_code.is_(None),
                sa.and_(
                    MIRROR.c.sent_version < state.c.portal_version,
                    sa.or_(
                        MIRROR.c.attempt_version < state.c.portal_version,
                        retry_due(MIRROR.c.attempts, MIRROR.c.next_attempt_at, max_attempts, now),
                    ),
                ),
            )
            query = (
                sa.select(state)
                .select_from(state.outerjoin(MIRROR, MIRROR.c.dossier_code == state.c.dossier_code))
                .where(state.c.mirror_pending.is_(True), due)
                .order_by(state.c.last_event_at, state.c.dossier_code)
                .limit(limit)
            )
            rows = [dict(r._mapping) for r in conn.execute(query)]
            return self._work(conn, timeline, rows, complete_only=True)

    def settled(self, codes: Sequence[str] | None = None, limit: int | None = None, after: str = "") -> list[Work]:
        """Dossiers the portal acknowledged at the hub's current version: what reconciliation compares."""
        with self.engine.connect() as conn:
            state, timeline = self._tables(conn)
            query = sa.select(state).where(state.c.mirror_version > 0, state.c.mirror_pending.is_(False))
            if codes is not None:
                query = query.where(state.c.dossier_code.in_(list(codes)))
            query = query.where(state.c.dossier_code > after).order_by(state.c.dossier_code)
            if limit is not None:
                query = query.limit(limit)
            rows = [dict(r._mapping) for r in conn.execute(query)]
            return self._work(conn, timeline, rows, complete_only=False)

    def _work(
        self, conn: Connection, timeline: sa.Table, rows: list[dict[str, Any]], complete_only: bool
    ) -> list[Work]:
        codes = [r["dossier_code"] for r in rows]
        if not codes:
            return []
        t = timeline.c
        query = sa.select(t.event_id, t.dossier_code, t.event_type, t.occurred_at, t.type_rank, t.summary_vi)
        query = query.add_columns(t.actor, t.unit, t.national_status).where(t.event_type.in_(_PORTAL_NAMES))
        events: dict[str, list[Any]] = defaultdict(list)
        for row in select_in(conn, query, t.dossier_code, codes):
            events[row.dossier_code].append(row)
        stored = {r.dossier_code: _outbox(r) for r in select_in(conn, sa.select(MIRROR), MIRROR.c.dossier_code, codes)}
        out = []
        for row in rows:
            code = row["dossier_code"]
            seen = events.get(code, [])
            if complete_only and len(seen) < row["portal_version"]:
                continue  # the timeline has not caught up with dossier_state yet: next tick
            ordered = sorted(
                (e for e in seen if e.event_type in _STEP_NAMES), key=lambda e: (e.occurred_at, e.type_rank, e.event_id)
            )
            out.append(
                Work(
                    code=code,
                    version=row["portal_version"],
                    mirror_version=row["mirror_version"],
                    national_status=row["national_status"],
                    agency_code=row["agency_code"],
                    procedure_code=row["procedure_code"],
                    row=row,
                    item=dossier_item(row),
                    steps=[(e.event_id, step_item(code, e._mapping)) for e in ordered],
                    outbox=stored.get(code) or Outbox(code),
                )
            )
        return out

    def save(self, outboxes: Iterable[Outbox]) -> None:
        rows = [o.values() for o in outboxes]
        if not rows:
            return
        with self.engine.begin() as conn:
            upsert(conn, MIRROR, rows)

    def counts(self) -> dict[str, int]:
        """For status displays: dossiers the mirror has touched, waiting to retry, with an error."""
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(MIRROR)).scalar_one()
            failing = conn.execute(sa.select(sa.func.count()).where(MIRROR.c.attempts > 0)).scalar_one()
        return {"tracked": int(total), "failing": int(failing)}
