"""The demo's traffic generator: the one-stop world's changes become visible as a compressed clock
passes their times, so a province-like working day plays in minutes and the hub sees dossiers
arrive, move and finish live. Quiet stretches (nights, weekends) are cut short."""

from __future__ import annotations

import bisect
import time

from connectors.onestop.world import World

__all__ = ["Traffic"]


class Traffic:
    def __init__(self, world: World, speed: float, *, max_gap_s: float = 2.0, backlog: int = 0) -> None:
        """``speed``: business seconds per real second; ``max_gap_s``: longest real pause between two
        changes; ``backlog``: changes visible from the start (what happened before the demo began)."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.total = len(world.changes)
        self.backlog = min(backlog, self.total)
        due, offset = [], 0.0
        changes = world.changes[self.backlog :]
        for before, change in zip([None, *changes], changes, strict=False):
            if before is not None:
                offset += min((change.at - before.at).total_seconds() / speed, max_gap_s)
            due.append(offset)
        self._due = due  # real seconds after start at which each later change appears
        self._start = time.monotonic()

    def visible(self) -> int:
        """How many changes (a prefix of the feed, by MaThayDoi) the one-stop has recorded by now."""
        return self.backlog + bisect.bisect_right(self._due, time.monotonic() - self._start)

    def duration_s(self) -> float:
        return self._due[-1] if self._due else 0.0
