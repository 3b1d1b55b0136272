"""The system run's province: a generated one-stop world (and the national portal's online share of it)
with its ground truth, the four simulators serving it on loopback, and steady traffic.

Traffic: the simulators reveal their records in feed order at a steady rate (records per second, split
between the one-stop and the portal in proportion), so the hub meets a constant load whose every
record's reveal time is known: the end-to-end latency of a record is measured from that instant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from connectors.dvcqg.mapping import map_portal_record
from connectors.onestop.mapping import map_change
from hub.domain.events import Event
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import PortalWorld, build_portal_world
from simulators.onestop.simulator import Faults, OnestopSimulator
from simulators.onestop.world import World, build_world
from simulators.paygov.simulator import PayGovFaults, PayGovSimulator
from simulators.vnpost.simulator import VnpostFaults, VnpostSimulator

__all__ = ["PROFILES", "Province", "Simulators", "Traffic", "Truth"]

PROFILES = ("none", "realistic", "high")
_HIGH = 2.0  # "high": every fault rate of the realistic profile times this (at most 0.5)
F = TypeVar("F")


def _profile(realistic: F, profile: str, empty: F) -> F:
    if profile == "none":
        return empty
    if profile == "realistic":
        return realistic
    rates = {
        f.name: min(0.5, getattr(realistic, f.name) * _HIGH)
        for f in dataclasses.fields(realistic)  # type: ignore[arg-type]
        if f.name.endswith("_rate")
    }
    return dataclasses.replace(realistic, **rates)  # type: ignore[type-var]


@dataclass
class Truth:
    """What the hub must end up holding, from the world alone."""

    onestop: list[Event | None]  # per one-stop change in feed order: its event, None when malformed
    portal: list[Event | None]
    malformed: Counter[str] = field(default_factory=Counter)  # records broken on purpose, by breakage

    @property
    def events(self) -> dict[str, Event]:
        """Every expected event by id (as the read models write it)."""
        return {str(e.event_id): e for e in (*self.onestop, *self.portal) if e is not None}


@dataclass
class Province:
    dossiers: int
    seed: int
    profile: str
    world: World = field(init=False)
    portal_world: PortalWorld = field(init=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"fault profile {self.profile!r}: one of {', '.join(PROFILES)}")
        malformed = {"none": 0.0, "realistic": 0.005, "high": 0.02}[self.profile]
        self.world = build_world(self.dossiers, self.seed, malformed_rate=malformed)
        self.portal_world = build_portal_world(self.world, seed=self.seed, malformed_rate=malformed)

    @property
    def records(self) -> int:
        return len(self.world.changes) + len(self.portal_world.records)

    def truth(self, identity_key: bytes) -> Truth:
        truth = Truth([], [])
        for change in self.world.changes:
            if change.malformed is None:
                truth.onestop.append(map_change(self.world.as_read(change), identity_key))
            else:
                truth.onestop.append(None)
                truth.malformed[change.malformed] += 1
        for record in self.portal_world.records:
            if record.malformed is None:
                truth.portal.append(map_portal_record(record.record(), identity_key))
            else:
                truth.portal.append(None)
                truth.malformed[record.malformed] += 1
        return truth


class Traffic:
    """Records revealed at ``rate`` per second once ``start()`` is called, both feeds ending together."""

    def __init__(self, onestop: int, portal: int, rate: float) -> None:
        self.sizes = {"onestop": onestop, "portal": portal}
        self.rates = {name: rate * n / (onestop + portal) for name, n in self.sizes.items()}
        self.started: float | None = None
        self.duration_s = (onestop + portal) / rate

    def start(self) -> None:
        self.started = time.monotonic()

    def visible(self, feed: str) -> Callable[[], int]:
        def count() -> int:
            if self.started is None:
                return 0
            return min(self.sizes[feed], int((time.monotonic() - self.started) * self.rates[feed]))

        return count

    def revealed_at(self, feed: str, index: int) -> float:
        """The monotonic instant the record at ``index`` became visible."""
        assert self.started is not None
        return self.started + (index + 1) / self.rates[feed]

    def done(self) -> bool:
        return self.started is not None and time.monotonic() - self.started >= self.duration_s


class Simulators(contextlib.ExitStack):
    """The four external systems, in this process, so the run can compare what they received."""

    def __init__(self, province: Province, traffic: Traffic, callback_base: str) -> None:
        super().__init__()
        p = province.profile
        self.onestop = OnestopSimulator(
            province.world, _profile(Faults.realistic(), p, Faults()), visible=traffic.visible("onestop")
        )
        self.portal = PortalSimulator(
            province.portal_world,
            self._portal_faults(p),
            visible=traffic.visible("portal"),
        )
        self.paygov = PayGovSimulator(
            _profile(PayGovFaults.realistic(), p, PayGovFaults()),
            callback_url=f"{callback_base}/callbacks/paygov/ipn",
            seed=province.seed,
        )
        self.vnpost = VnpostSimulator(
            _profile(VnpostFaults.realistic(), p, VnpostFaults()),
            callback_url=f"{callback_base}/callbacks/vnpost/tracking",
            seed=province.seed,
        )

    @staticmethod
    def _portal_faults(profile: str) -> PortalFaults:
        realistic = PortalFaults.realistic()
        realistic.corrupt_upload_rate = 0.02  # the national data store's corrupted uploads
        return _profile(realistic, profile, PortalFaults())

    def __enter__(self) -> Simulators:
        super().__enter__()
        for sim in (self.onestop, self.portal, self.paygov, self.vnpost):
            self.enter_context(sim)
        return self

    def ports(self) -> dict[str, int]:
        urls = {"onestop": self.onestop.url, "dvcqg": self.portal.url, "paygov": self.paygov.url}
        urls["vnpost"] = self.vnpost.url
        return {name: int(url.rstrip("/").rsplit(":", 1)[1]) for name, url in urls.items()}

    def counters(self) -> dict[str, Any]:
        return {
            "onestop": dict(self.onestop.faulted),
            "dvcqg": dict(self.portal.state.counts),
            "paygov": dict(self.paygov.state.counts),
            "vnpost": dict(self.vnpost.state.counts),
        }
