"""The faults a system run injects, when, and how long the hub took to recover from each.

Recovery is timed from the fault's end (the network or database back, or the process killed: its
supervisor starts it again at once) to the first sign of progress of what the fault hit: the killed
process's own (simulators.province.probes.Progress), or, after an outage, both the projections and the
connectors'. No operator acts: processes that exit are started again by the supervisor, as compose's
``restart:`` does in production.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field

from hub.process.supervisor import Supervisor
from simulators.local.postgres import ThrowawayPostgres
from simulators.local.tcp_proxy import TcpProxy
from simulators.province.probes import Progress

__all__ = ["SCENARIOS", "Fault", "Injector", "profile_of", "schedule"]

SCENARIOS = ("none", "kafka", "postgres", "kill", "simulators", "all")
_PIPELINE = ("projections", "connector-onestop", "connector-dvcqg")  # what must move again after an outage


def profile_of(scenario: str) -> str:
    """The simulators' fault profile a scenario runs with."""
    return {"none": "none", "simulators": "high", "all": "high"}.get(scenario, "realistic")


@dataclass
class Fault:
    kind: str  # kafka_cut | postgres_down | kill
    at_s: float  # after the traffic started
    duration_s: float = 0.0
    target: str = ""  # the process, for kill
    started: float | None = None  # monotonic
    ended: float | None = None
    recovered: float | None = None
    baseline: dict[str, object] = field(default_factory=dict)

    @property
    def watched(self) -> tuple[str, ...]:
        return (self.target,) if self.kind == "kill" else _PIPELINE

    @property
    def label(self) -> str:
        return f"kill {self.target}" if self.kind == "kill" else f"{self.kind} {self.duration_s:g}s"

    @property
    def recovery_s(self) -> float | None:
        if self.recovered is None or self.ended is None:
            return None
        return round(self.recovered - self.ended, 2)

    def window(self) -> tuple[float, float] | None:
        """From its start to its recovery (or now, if not recovered yet)."""
        if self.started is None:
            return None
        return self.started, self.recovered if self.recovered is not None else time.monotonic() + 3600


def schedule(scenario: str, duration_s: float, processes: list[str], seed: int) -> list[Fault]:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    rng = random.Random(seed)
    d = duration_s
    faults: list[Fault] = []
    if scenario in ("kafka", "all"):  # a short cut, and one longer than the consumer session timeout (6 s)
        faults += [Fault("kafka_cut", 0.2 * d, 3.0), Fault("kafka_cut", 0.55 * d, 12.0)]
    if scenario in ("postgres", "all"):
        faults += [Fault("postgres_down", 0.35 * d, 5.0), Fault("postgres_down", 0.75 * d, 2.0)]
    if scenario in ("kill", "all"):
        faults += [Fault("kill", rng.uniform(0.1, 0.85) * d, target=name) for name in processes]
    return sorted(faults, key=lambda f: f.at_s)


class Injector:
    """Starts and ends the scheduled faults as the run's clock passes them, and times recoveries."""

    def __init__(
        self,
        faults: list[Fault],
        proxy: TcpProxy,
        postgres: ThrowawayPostgres,
        supervisor: Supervisor,
        progress: Progress,
    ) -> None:
        self.faults = faults
        self.proxy, self.postgres, self.supervisor, self.progress = proxy, postgres, supervisor, progress

    def step(self, started: float) -> None:
        now = time.monotonic()
        for fault in self.faults:
            if fault.started is None and now - started >= fault.at_s:
                self._begin(fault)
            elif fault.started is not None and fault.ended is None and now - fault.started >= fault.duration_s:
                self._end(fault)
            elif fault.ended is not None and fault.recovered is None:
                self._check(fault)

    def _begin(self, fault: Fault) -> None:
        fault.started = time.monotonic()
        if fault.kind == "kafka_cut":
            self.proxy.cut()
        elif fault.kind == "postgres_down":
            self.postgres.halt()
        else:
            child = self.supervisor.child(fault.target)
            if child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)
                assert child.process is not None
                child.process.wait()
            self.supervisor.tend()  # the supervisor notices at once, as compose would
            self._end(fault)

    def _end(self, fault: Fault) -> None:
        if fault.kind == "kafka_cut":
            self.proxy.restore()
        elif fault.kind == "postgres_down":
            self.postgres.resume()
        fault.ended = time.monotonic()
        fault.baseline = {}
        self._check(fault)

    def _check(self, fault: Fault) -> None:
        moved = True
        for name in fault.watched:
            value = self.progress.of(name)
            if value is None:
                return
            if name not in fault.baseline:
                fault.baseline[name] = value
                moved = False
            elif value == fault.baseline[name]:
                moved = False
        if moved:
            fault.recovered = time.monotonic()

    def active(self) -> bool:
        return any(f.started is not None and f.recovered is None for f in self.faults)

    def pending(self) -> bool:
        return any(f.recovered is None for f in self.faults)
