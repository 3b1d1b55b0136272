"""Connector and hub health, sampled on a timer: breaker transitions, error rates, stalled cursors,
dead-letter rate, results-sync backlog, divergences by source, and refused callbacks.

Each tick reads what the hub already records (connector state, the results projection, the
monitor's marks, hub_security_events, the dead-letter topic's end offsets), compares it with the
previous sample kept in hub_monitor_state, and writes alerts (RAISED / CLEARED once per crossing,
CHANGED per breaker transition), one HealthSample and the new security refusals to the outbox in
the same transaction as the new sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hub.domain.identity import redact
from hub.errors import HubError
from hub.monitoring import outbox
from hub.monitoring.records import MonitoringCodec, default_codec, record_id
from hub.settings import Settings
from hub.store.connector_state import COUNTERS
from hub.store.sql_store import (
    connector_state_table,
    dumps,
    loads,
    monitor_marks_table,
    monitor_state_table,
    security_events_table,
    upsert,
)
from hub.store.utc import aware
from projections.registry import active_table

__all__ = ["HealthMonitor", "Thresholds"]

HUB = "hub"


@dataclass(frozen=True)
class Thresholds:
    error_rate: float = 0.2
    error_min_attempts: int = 5
    cursor_stall_s: float = 1800.0
    dead_letters_per_min: float = 1.0
    results_backlog_age_s: float = 3600.0
    results_backlog: int = 1000
    divergences: int = 1

    @classmethod
    def of(cls, s: Settings) -> Thresholds:
        return cls(
            s.monitor_error_rate,
            s.monitor_error_min_attempts,
            s.monitor_cursor_stall_s,
            s.monitor_dead_letters_per_min,
            s.monitor_results_backlog_age_s,
            s.monitor_results_backlog,
            s.monitor_divergences,
        )


class HealthMonitor:
    def __init__(
        self,
        engine: Engine,
        thresholds: Thresholds,
        dead_letters_total: Callable[[], int],
        prefix: str = "hub.monitoring.",
        codec: MonitoringCodec | None = None,
    ) -> None:
        self.engine = engine
        self.prefix = prefix
        self.t = thresholds
        self.dead_letters_total = dead_letters_total
        self.codec = codec or default_codec()

    def tick(self, now: datetime) -> int:
        """Sample, compare, write; the number of records written to the outbox."""
        dead_letters = self.dead_letters_total()  # a broker call: outside the transaction
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(monitor_state_table.c.state).where(monitor_state_table.c.name == "health"))
            text = found.scalar_one_or_none()
            tick = _Tick(self, conn, loads(text) if text else {}, now)
            tick.run(dead_letters)
            upsert(conn, monitor_state_table, [{"name": "health", "state": dumps(tick.new)}])
            return tick.written


class _Tick:
    """One sample: the previous state in, the new state and the records out."""

    def __init__(self, monitor: HealthMonitor, conn: Connection, old: dict[str, Any], now: datetime) -> None:
        self.m, self.t, self.conn, self.old, self.now = monitor, monitor.t, conn, old, now
        self.at_ms = int(now.timestamp() * 1000)
        self.interval_s = (self.at_ms - old["at"]) / 1000 if "at" in old else 0.0
        self.alerts: dict[str, bool] = dict(old.get("alerts", {}))
        self.new: dict[str, Any] = {"at": self.at_ms, "alerts": self.alerts}
        self.written = 0

    def put(self, kind: str, key: str, record: dict[str, Any]) -> None:
        outbox.put(self.conn, self.m.codec, self.m.prefix, kind, key, record)
        self.written += 1

    def alert(self, component: str, signal: str, state: str, detail: str, **figures: Any) -> None:
        record = {"component": component, "signal": signal, "state": state, "detail": detail, "at": self.now}
        record |= figures
        record["record_id"] = record_id(component, signal, state, self.at_ms)
        self.put("health", component, record)

    def crossing(self, component: str, signal: str, over: bool | None, detail: str, value: float, limit: float) -> None:
        """RAISED when a figure goes over its threshold, CLEARED when back under; None: no evidence either way."""
        key = f"{component}|{signal}"
        if over is None or over == self.alerts.get(key, False):
            return
        self.alerts[key] = over
        self.alert(component, signal, "RAISED" if over else "CLEARED", detail, value=value, threshold=limit)

    def run(self, dead_letters: int) -> None:
        connectors, self.new["connectors"] = [], {}
        for row in self.conn.execute(sa.select(connector_state_table).order_by(connector_state_table.c.name)):
            sample, self.new["connectors"][row.name] = self.connector(row)
            connectors.append(sample)
        new_dead = max(dead_letters - self.old.get("dead_letters", dead_letters), 0)
        self.new["dead_letters"] = dead_letters
        per_min = new_dead / (self.interval_s / 60) if self.interval_s else 0.0
        if self.interval_s:
            over = per_min >= self.t.dead_letters_per_min if new_dead else False
            self.crossing(
                HUB,
                "DEAD_LETTERS",
                over,
                f"{new_dead} dead letters in {self.interval_s:.0f} s",
                per_min,
                self.t.dead_letters_per_min,
            )
        results = self.results()
        divergences = self.divergences()
        self.put(
            "health-samples",
            HUB,
            {
                "record_id": record_id("sample", self.at_ms),
                "at": self.now,
                "interval_s": self.interval_s,
                "connectors": connectors,
                "dead_letters_total": dead_letters,
                "dead_letters_new": new_dead,
                "results_sync": results,
                "divergences": divergences,
                "unreadable_events": self.count_marks("unreadable"),
            },
        )
        self.security()

    def connector(self, row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The connector's sample and what the next tick needs to compare with."""
        name = row.name
        old = self.old.get("connectors", {}).get(name)
        counters = dict.fromkeys(COUNTERS, 0) | loads(row.counters)
        previous = old["counters"] if old else counters
        delta = {k: max(counters[k] - previous.get(k, 0), 0) for k in COUNTERS}
        breaker = row.breaker_state
        if old is not None and (old["breaker"] != breaker or delta["breaker_opens"]):
            detail = f"{old['breaker']} -> {breaker}"
            if delta["breaker_opens"] and old["breaker"] == breaker:
                detail += f" (opened {delta['breaker_opens']} time(s) in between)"
            self.alert(name, "BREAKER", "CHANGED", detail, previous=old["breaker"], current=breaker)
        elif old is None and breaker != "closed":
            self.alert(name, "BREAKER", "CHANGED", f"seen {breaker}", current=breaker)
        attempts, failures = delta["pages"] + delta["failures"], delta["failures"]
        rate = failures / attempts if attempts else 0.0
        over = (rate >= self.t.error_rate) if attempts >= self.t.error_min_attempts else (False if attempts else None)
        self.crossing(name, "ERROR_RATE", over, f"{failures} failures in {attempts} fetches", rate, self.t.error_rate)
        trying = counters["failures"] + counters["retries"] + counters["pages"]
        if old is None or old["cursor"] != row.cursor:
            moved_at, trying_at_move = self.at_ms, trying
        else:
            moved_at, trying_at_move = old["moved_at"], old["trying_at_move"]
        unchanged_s = (self.at_ms - moved_at) / 1000
        # Stalled: the connector keeps working (fetches, failures, retries) but its cursor does not move.
        # A source with nothing new keeps fetching too; the threshold is what tells the two apart.
        stalled = unchanged_s >= self.t.cursor_stall_s and trying > trying_at_move
        self.crossing(
            name,
            "CURSOR_STALL",
            stalled,
            f"cursor unchanged for {unchanged_s:.0f} s",
            unchanged_s,
            self.t.cursor_stall_s,
        )
        keep = {
            "counters": counters,
            "breaker": breaker,
            "cursor": row.cursor,
            "moved_at": moved_at,
            "trying_at_move": trying_at_move,
        }
        sample = {
            "name": name,
            "breaker_state": breaker,
            "cursor_unchanged_s": unchanged_s,
            "attempts": attempts,
            "failures": failures,
            "error_rate": rate,
            "last_error": redact(row.last_error)[:500] if row.last_error else None,
        }
        return sample, keep

    def results(self) -> dict[str, Any]:
        figures = {"synced": 0, "backlog": 0, "failing": 0, "oldest_backlog_age_s": 0.0}
        try:
            t: sa.Table | None = active_table(self.conn, "results")
        except HubError:  # the results projection has not run: nothing to sync yet
            t = None
        if t is not None:
            counts: dict[str, int] = dict(
                self.conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all()
            )
            backlog = ("pending", "failed", "drifted")
            oldest = self.conn.execute(
                sa.select(sa.func.min(sa.func.coalesce(t.c.drifted_at, t.c.digitised_at))).where(t.c.state.in_(backlog))
            ).scalar()
            age = max((self.now - aware(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
            figures = {
                "synced": counts.get("synced", 0),
                "backlog": sum(counts.get(s, 0) for s in backlog),
                "failing": counts.get("failed", 0),
                "oldest_backlog_age_s": age,
            }
        over = (
            figures["oldest_backlog_age_s"] >= self.t.results_backlog_age_s
            or figures["backlog"] >= self.t.results_backlog
        )
        oldest = figures["oldest_backlog_age_s"]
        detail = f"{figures['backlog']} results not in the national data store, oldest {oldest:.0f} s"
        self.crossing(
            HUB, "RESULTS_SYNC_BACKLOG", over, detail, figures["oldest_backlog_age_s"], self.t.results_backlog_age_s
        )
        return figures

    def count_marks(self, kind: str) -> int:
        m = monitor_marks_table
        return int(self.conn.execute(sa.select(sa.func.count()).where(m.c.kind == kind)).scalar_one())

    def divergences(self) -> dict[str, int]:
        m = monitor_marks_table
        query = sa.select(m.c.source, sa.func.count()).where(m.c.kind == "divergence").group_by(m.c.source)
        counts = {source: int(n) for source, n in self.conn.execute(query)}
        before = self.old.get("divergences", counts)
        self.new["divergences"] = counts
        for source in sorted(set(counts) | set(before)):
            new = counts.get(source, 0) - before.get(source, 0)
            if self.interval_s:
                over = new >= self.t.divergences
                detail = f"{new} new divergences from {source} ({counts.get(source, 0)} in all)"
                self.crossing(source, "DIVERGENCES", over, detail, float(new), float(self.t.divergences))
        return counts

    def security(self) -> None:
        s = security_events_table
        last = int(self.old.get("security_last_id", 0))
        rows = self.conn.execute(sa.select(s).where(s.c.id > last).order_by(s.c.id).limit(10_000)).all()
        for row in rows:
            record = {
                "record_id": record_id("security", row.id, row.at.isoformat()),
                "at": aware(row.at),
                "source": row.source,
                "kind": row.kind,
                "reference": row.reference,
                "dossier_code": row.dossier_code,
                "remote": row.remote,
                "detail": redact(row.detail),
            }
            self.put("security", row.source, record)
        self.new["security_last_id"] = rows[-1].id if rows else last
