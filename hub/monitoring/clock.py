"""The SLA monitor's business clock: real time in production, compressed in the demo and tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

__all__ = ["BusinessClock"]


class BusinessClock:
    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self.speed = speed
        self.start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    @staticmethod
    def real_now() -> datetime:
        """Wall-clock time: health is about the hub's own operation, which is never compressed."""
        return datetime.now(UTC)
