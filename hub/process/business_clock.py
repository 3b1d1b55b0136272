"""The hub's business clock: real time in production; in the demo and tests, compressed and shared.

Every process that judges time (the SLA monitor, the API's "now" for due lists, the simulators
revealing traffic) builds it from the same three settings, so they agree on what time it is:
business time = HUB_CLOCK_START + (real now - HUB_CLOCK_ANCHOR) x HUB_CLOCK_SPEED.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from hub.settings import Settings

__all__ = ["BusinessClock"]


class BusinessClock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None, anchor: float | None = None) -> None:
        """``anchor``: the real instant (epoch seconds) at which business time was ``start`` (default: now)."""
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self.speed = speed
        self.anchor = time.time() if anchor is None else anchor
        self.start = (start or datetime.fromtimestamp(self.anchor, UTC)).astimezone(UTC)

    @classmethod
    def of(cls, settings: Settings) -> BusinessClock:
        return cls(settings.clock_speed, settings.clock_start, settings.clock_anchor)

    @property
    def compressed(self) -> bool:
        return self.speed != 1 or self.start != datetime.fromtimestamp(self.anchor, UTC)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    @staticmethod
    def real_now() -> datetime:
        """Wall-clock time: health is about the hub's own operation, which is never compressed."""
        return datetime.now(UTC)
