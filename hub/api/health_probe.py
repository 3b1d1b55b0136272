"""/healthz without letting callers tie the API up: the database and the broker are each probed
by one background thread at a time and callers get the last result, at most ``max_age_s`` old. Probing per
call opened a Kafka consumer per request and waited out the bootstrap timeout when the broker was
away (45 concurrent calls delayed an authenticated request by 5.5 s)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["CachedProbe"]

log = logging.getLogger(__name__)


class CachedProbe:
    """``current()`` gives the newest answer of ``probe`` (one dependency's state, e.g. "ok") and starts a
    fresh probe in the background when it is older than ``max_age_s``; only the first calls wait for an
    answer, up to ``first_wait_s``, then say "checking"."""

    def __init__(self, probe: Callable[[], str], max_age_s: float, first_wait_s: float = 3.0) -> None:
        self._probe, self.max_age_s, self.first_wait_s = probe, max_age_s, first_wait_s
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._result: str | None = None
        self._at = float("-inf")
        self._running = False

    def current(self) -> str:
        with self._lock:
            start = not self._running and time.monotonic() - self._at >= self.max_age_s
            if start:
                self._running = True
        if start:
            threading.Thread(target=self._refresh, name="health-probe", daemon=True).start()
        if self._result is None:
            self._first.wait(self.first_wait_s)
        return self._result if self._result is not None else "checking"

    def _refresh(self) -> None:
        try:
            result = self._probe()
        except Exception as exc:  # reported as the health it is, and logged: the next call probes again
            log.exception("health probe failed")
            result = f"unknown: {type(exc).__name__}"
        finally:
            with self._lock:
                self._running = False
                self._at = time.monotonic()
        self._result = result
        self._first.set()
