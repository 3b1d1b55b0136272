"""A token bucket per caller (an address, an API key): ``rate_per_s`` on average, ``burst`` at once.
Kept in memory per process, and bounded: the stalest callers are forgotten first."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self, rate_per_s: float, burst: float, *, callers: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate_per_s, self.burst, self.callers, self._clock = rate_per_s, burst, callers, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def available(self, caller: str) -> float:
        """The tokens ``caller`` has now (nothing taken)."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.burst, now))
            return min(self.burst, tokens + (now - at) * self.rate_per_s)

    def allow(self, caller: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``caller``'s bucket; False (nothing taken) when it has too few."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
            allowed = tokens >= cost
            self._buckets[caller] = (tokens - cost if allowed else tokens, now)
            while len(self._buckets) > self.callers:
                self._buckets.popitem(last=False)
            return allowed
