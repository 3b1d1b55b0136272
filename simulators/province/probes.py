"""What the run watches while it goes: each hub process's progress (to time its recovery after a fault),
end-to-end latency of sampled records, and each process's peak RSS."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from simulators.province.scenario import Simulators, Traffic, Truth

__all__ = ["LatencyProbe", "PeakRss", "Progress", "percentile"]


class Progress:
    """A value per hub process that changes when, and only when, that process got work done: the
    projections' stored offsets, a connector's published-event count, what a policy's external system
    received, the monitor's last health sample, and whether an HTTP process answers."""

    def __init__(self, engine: sa.Engine, sims: Simulators, http_ports: dict[str, int]) -> None:
        self.engine = engine
        self.sims = sims
        self.http = httpx.Client(timeout=1.0)
        self.http_ports = http_ports
        self._sql: dict[str, str] = {
            "projections": "SELECT coalesce(sum(next_offset), 0) FROM hub_projection_offsets",
            "connector-onestop": "SELECT counters FROM hub_connector_state WHERE name = 'onestop'",
            "connector-dvcqg": "SELECT counters FROM hub_connector_state WHERE name = 'dvcqg'",
            "monitor": "SELECT state FROM hub_monitor_state WHERE name = 'health'",
        }
        s = sims
        self._external: dict[str, Callable[[], object]] = {
            "policy-dvcqg-mirror": lambda: (
                sum(len(v) for v in s.portal.state.steps.values()),
                sum(int(d.get("TrangThaiHoSo") or 0) for d in s.portal.state.dossiers.values()),
            ),
            "policy-results-sync": lambda: sum(s.portal.store.registrations.values()),
            "policy-paygov-payments": lambda: (
                sum(s.paygov.state.inits.values()),
                s.paygov.state.counts.get("queries"),
            ),
            "policy-vnpost-orders": lambda: (
                sum(s.vnpost.state.creations.values()),
                s.vnpost.state.counts.get("tracking_queries"),
            ),
        }

    def of(self, name: str) -> object | None:
        """The process's progress value now; None when it cannot be read (its store is down)."""
        if name in self.http_ports:
            try:
                return self.http.get(f"http://127.0.0.1:{self.http_ports[name]}/healthz").status_code == 200
            except httpx.HTTPError:
                return False
        if name in self._external:
            try:
                return self._external[name]()
            except RuntimeError:  # a simulator thread changed the dict being summed: ask again next time
                return None
        try:
            with self.engine.connect() as conn:
                value = conn.exec_driver_sql(self._sql[name]).scalar()
        except sa.exc.SQLAlchemyError:
            return None
        if name.startswith("connector-") and value is not None:
            produced: object = json.loads(value).get("events_produced")  # not fetches: those count when idle
            return produced
        result: object = value
        return result

    def close(self) -> None:
        self.http.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class LatencyProbe:
    """Every ``every``-th valid record of each feed is a probe: its latency is from the instant the
    simulator revealed it to the first poll that finds its event in the timeline (polled every ~0.2 s,
    so figures carry up to that much on top)."""

    truth: Truth
    traffic: Traffic
    engine: sa.Engine
    every: int
    samples: list[tuple[str, int, str]] = field(init=False)  # (feed, index, event id)
    pending: dict[str, float] = field(default_factory=dict)  # event id -> revealed at (monotonic)
    seen: list[tuple[float, float]] = field(default_factory=list)  # (revealed at, latency s)
    connector_part: list[float] = field(default_factory=list)  # revealed -> event recorded by the connector (s)
    _next: int = 0

    def __post_init__(self) -> None:
        picked = [
            (feed, i, str(e.event_id))
            for feed, events in (("onestop", self.truth.onestop), ("portal", self.truth.portal))
            for i, e in enumerate(events)
            if e is not None and i % self.every == 0
        ]
        # in reveal order (both feeds interleaved), which ``poll`` relies on
        self.samples = sorted(picked, key=lambda s: (s[1] + 1) / self.traffic.rates[s[0]])

    def poll(self) -> None:
        now = time.monotonic()
        while self._next < len(self.samples):
            feed, index, event_id = self.samples[self._next]
            at = self.traffic.revealed_at(feed, index)
            if at > now:
                break
            self.pending[event_id] = at
            self._next += 1
        if not self.pending:
            return
        try:
            with self.engine.connect() as conn:
                found = conn.execute(
                    sa.text("SELECT event_id, recorded_at FROM v_timeline WHERE event_id IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"ids": list(self.pending)},
                ).all()
        except sa.exc.SQLAlchemyError:
            return
        at_poll = time.monotonic()
        to_wall = time.time() - at_poll
        for event_id, recorded_at in found:
            revealed = self.pending.pop(event_id)
            self.seen.append((revealed, at_poll - revealed))
            self.connector_part.append(recorded_at.timestamp() - (revealed + to_wall))

    def figures(self, quiet: Callable[[float], bool]) -> dict[str, float | int | None]:
        """p50/p99 in ms over all probes, and over those revealed while no fault was on (``quiet``)."""
        every = [lat * 1000 for _, lat in self.seen]
        calm = [lat * 1000 for at, lat in self.seen if quiet(at)]
        return {
            "probes": len(self.seen),
            "p50_ms": _round(percentile(calm, 50)),
            "p99_ms": _round(percentile(calm, 99)),
            "calm_probes": len(calm),
            "p50_all_ms": _round(percentile(every, 50)),
            "p99_all_ms": _round(percentile(every, 99)),
            "connector_part_p50_ms": _round(percentile([x * 1000 for x in self.connector_part], 50)),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class PeakRss:
    """Peak resident memory per named process (the kernel's VmHWM), across restarts."""

    def __init__(self) -> None:
        self.peak_mb: dict[str, float] = {}

    def sample(self, name: str, pid: int | None) -> None:
        if pid is None:
            return
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                mb = int(line.split()[1]) / 1024
                self.peak_mb[name] = round(max(self.peak_mb.get(name, 0.0), mb), 1)
