"""A simulator's clock: callables run at their due time on one background thread (payers paying,
parcels moving, callbacks being pushed), in due order, until stopped."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, name: str) -> None:
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def later(self, delay_s: float, job: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._queue, (time.monotonic() + max(delay_s, 0.0), next(self._seq), job))
            self._wake.notify()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._wake.wait(timeout=(self._queue[0][0] - time.monotonic()) if self._queue else None)
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._queue)
            try:
                job()
            except Exception:  # a simulator bug must show, not stop the clock
                log.exception("simulated job failed")

    def pending(self) -> int:
        with self._wake:
            return len(self._queue)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=5)
