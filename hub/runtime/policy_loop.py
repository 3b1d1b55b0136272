"""What every policy shares: its options, the retry backoff, and the loop that runs its passes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

__all__ = ["Looping", "Policy", "PolicyOptions", "next_attempt", "retry_due", "run_loop"]


@dataclass(frozen=True)
class PolicyOptions:
    batch: int = 200  # items per pass
    concurrency: int = 8  # calls in flight (government systems are slow; the hub is not the bottleneck)
    retry_base_s: float = 2.0
    retry_max_s: float = 300.0
    max_attempts: int = 8  # then parked until something changes or a reconcile/operator acts


class Policy(Protocol):
    name: str
    counters: Counter[str]

    def tick(self) -> int: ...

    def run(
        self,
        *,
        should_stop: Callable[[], bool] = ...,
        idle_exit_s: float | None = ...,
        interval_s: float = ...,
        every: Sequence[tuple[float, Callable[[], object]]] = ...,
    ) -> Counter[str]: ...

    def close(self) -> None: ...


def next_attempt(attempts: int, options: PolicyOptions, now: datetime | None = None) -> datetime | None:
    """When to try again after ``attempts`` failures (doubling from retry_base_s), None once parked."""
    if attempts >= options.max_attempts:
        return None
    delay = min(options.retry_base_s * 2 ** max(attempts - 1, 0), options.retry_max_s)
    return (now or datetime.now(UTC)) + timedelta(seconds=delay)


def retry_due(
    attempts: sa.ColumnElement[Any], next_attempt_at: sa.ColumnElement[Any], max_attempts: int, now: datetime
) -> sa.ColumnElement[bool]:
    """SQL: an item whose attempts failed may be tried again now (not parked, its backoff over)."""
    return sa.and_(attempts < max_attempts, sa.or_(next_attempt_at.is_(None), next_attempt_at <= now))


def run_loop(
    tick: Callable[[], int],
    *,
    should_stop: Callable[[], bool],
    idle_exit_s: float | None,
    interval_s: float,
    every: Sequence[tuple[float, Callable[[], object]]] = (),
) -> None:
    """Tick until stopped (or idle for ``idle_exit_s``); ``every`` runs (period, job) pairs on the side."""
    idle_since = time.monotonic()
    last_run = [time.monotonic()] * len(every)
    while not should_stop():
        done = tick()
        now = time.monotonic()
        for i, (period, job) in enumerate(every):
            if period > 0 and now - last_run[i] >= period:
                job()
                last_run[i] = now
        if done:
            idle_since = now
            continue
        if idle_exit_s is not None and now - idle_since >= idle_exit_s:
            break
        time.sleep(interval_s)


class Looping:
    """``run`` for a policy that has ``tick`` and ``counters``."""

    counters: Counter[str]

    def tick(self) -> int:
        raise NotImplementedError

    def run(
        self,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        idle_exit_s: float | None = None,
        interval_s: float = 1.0,
        every: Sequence[tuple[float, Callable[[], object]]] = (),
    ) -> Counter[str]:
        run_loop(self.tick, should_stop=should_stop, idle_exit_s=idle_exit_s, interval_s=interval_s, every=every)
        return self.counters
