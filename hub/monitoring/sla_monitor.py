"""The SLA monitor's durable state: its own fold of each dossier (the dossier_state fold, so the two
never disagree), the conditions it raised, and when time alone can next change them.

Events and clock ticks go through the same evaluation; each transition is written to the outbox in
the transaction that records it, so a condition is raised once and cleared once whatever crashes.
Redelivered events change nothing: the fold ignores event ids it has seen.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.domain.dossier_fold import DossierFold, derive
from hub.domain.events import Event, EventType
from hub.domain.sla import Condition, clear_reason, conditions, next_check, raise_key
from hub.monitoring import outbox
from hub.monitoring.records import MonitoringCodec, default_codec, record_id
from hub.store.sql_store import dumps, loads, monitor_dossiers_table, monitor_marks_table, select_in, upsert

__all__ = ["UNJUDGED", "SlaMonitor"]

D = monitor_dossiers_table
UNJUDGED = datetime(1970, 1, 1, tzinfo=UTC)  # next_check_at of a replayed dossier: "judge at the next scan"


class SlaMonitor:
    def __init__(
        self, engine: Engine, horizon: timedelta, prefix: str = "hub.monitoring.", codec: MonitoringCodec | None = None
    ) -> None:
        self.engine = engine
        self.prefix = prefix
        self.horizon = horizon
        self.codec = codec or default_codec()

    def apply(self, events: Sequence[Event], now: datetime, *, evaluate: bool = True) -> int:
        """Fold events in and evaluate the dossiers they touch; the number of transitions written.

        ``evaluate=False`` (history being replayed) only folds, and leaves the dossier for the first
        scan after the replay: a dossier finished long ago must not raise and clear on the way.
        """
        by_code: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_code[event.dossier_code].append(event)
        with self.engine.begin() as conn:
            _mark_divergences(conn, events)
            query = sa.select(D.c.dossier_code, D.c.fold, D.c.active).with_for_update()
            stored = {code: (fold, active) for code, fold, active in select_in(conn, query, D.c.dossier_code, by_code)}
            written, rows = 0, list[dict[str, Any]]()
            for code, batch in by_code.items():
                fold_text, active_text = stored.get(code, (None, "{}"))
                fold = DossierFold.from_json(loads(fold_text)) if fold_text else DossierFold()
                if not (any([fold.apply(event) for event in batch]) or fold_text is None):
                    continue
                if evaluate:
                    written += self._settle(conn, code, fold, loads(active_text), now, rows)
                else:
                    values = {"dossier_code": code, "fold": dumps(fold.to_json()), "active": active_text}
                    rows.append(values | {"next_check_at": UNJUDGED})
            upsert(conn, D, rows)  # one statement per batch: a statement per dossier was most of the monitor's time
            return written

    def scan(self, now: datetime, limit: int = 1000) -> int:
        """Evaluate the dossiers whose next check is due; the number of transitions written."""
        written = 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    sa.select(D.c.dossier_code, D.c.fold, D.c.active)
                    .where(D.c.next_check_at <= now)
                    .order_by(D.c.next_check_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).all()
                settled: list[dict[str, Any]] = []
                for code, fold_text, active_text in rows:
                    fold = DossierFold.from_json(loads(fold_text))
                    written += self._settle(conn, code, fold, loads(active_text), now, settled)
                upsert(conn, D, settled)
            if len(rows) < limit:
                return written

    def _settle(
        self,
        conn: Connection,
        code: str,
        fold: DossierFold,
        active: dict[str, Any],
        now: datetime,
        settled: list[dict[str, Any]],
    ) -> int:
        """Write the dossier's transitions; its new row goes to ``settled`` for the caller to store."""
        row = derive(code, fold)
        holding = conditions(row, now, self.horizon)
        keys = {raise_key(c): c for c in holding}
        transitions = 0
        for key, condition in keys.items():
            if key not in active:
                self._emit(conn, row, condition, "RAISED", condition.kind, now)
                active[key] = now.isoformat()
                transitions += 1
        for key in [k for k in active if k not in keys]:
            kind, _, basis = key.partition("@")
            self._emit(conn, row, Condition(kind, basis, None), "CLEARED", clear_reason(kind, row, holding), now)
            del active[key]
            transitions += 1
        settled.append(
            {
                "dossier_code": code,
                "fold": dumps(fold.to_json()),
                "active": dumps(active),
                "next_check_at": next_check(row, now, self.horizon),
            }
        )
        return transitions

    def _emit(
        self, conn: Connection, row: dict[str, Any], c: Condition, state: str, reason: str, now: datetime
    ) -> None:
        record = {
            "record_id": record_id(row["dossier_code"], c.kind, c.basis, state),
            "condition": c.kind,
            "state": state,
            "reason": reason,
            "dossier_code": row["dossier_code"],
            "agency_code": row["agency_code"],
            "procedure_code": row["procedure_code"],
            "due_at": row["due_at"],
            "legal_due_at": row["legal_due_at"],
            "supplement_rounds": row["supplement_rounds"],
            "threshold_at": c.threshold_at,
            "detected_at": now,
        }
        outbox.put(conn, self.codec, self.prefix, "sla", row["dossier_code"], record)


def _mark_divergences(conn: Connection, events: Sequence[Event]) -> None:
    """Divergences counted by event id, so redelivery cannot inflate the health monitor's counts."""
    rows = [
        {"kind": "divergence", "mark": e.id_text, "source": e.source_system.value}
        for e in events
        if e.event_type is EventType.DIVERGENCE_DETECTED
    ]
    upsert(conn, monitor_marks_table, rows)
