"""The demo's traffic generator: a simulator's records become visible as the hub's business clock
passes their times, so a province-like working day plays in minutes and the hub sees dossiers
arrive, move and finish live (``hub simulators run ... --live``; the demo compresses the clock)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime

from hub.process.business_clock import BusinessClock

__all__ = ["revealed"]


def revealed(times: Sequence[datetime], clock: BusinessClock) -> Callable[[], int]:
    """How many of the records (in feed order, ``times`` not decreasing) exist by the clock's now."""
    ordered = list(times)
    if any(later < earlier for earlier, later in itertools.pairwise(ordered)):
        raise ValueError("a feed revealed by time must be in time order")
    return lambda: bisect.bisect_right(ordered, clock.now())
