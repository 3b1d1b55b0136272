"""Crash-only recovery for a consumer that stops coming back from Kafka.

kafka-python 3.0.12 can block forever in a consumer-group join when the network is cut at the wrong
moment (found by tests/integration/test_network_cuts.py: the main thread waits in
``ensure_active_group`` on a future that never completes, ignoring poll's timeout and SIGTERM).
A consumer that keeps its offsets in the database loses nothing by dying, so the watchdog ends the
process (exit code 75, EX_TEMPFAIL) and its supervisor (compose ``restart:``, systemd, `hub demo`)
starts it again; it also ends a process asked to stop that cannot get out of such a call.
The hub's consumers are aiokafka now (hub.log.kafka_source), whose poll always returns; the watchdog
stays as the safety net for any client call that does not.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["EXIT_STALLED", "StallWatchdog"]

log = logging.getLogger(__name__)
EXIT_STALLED = 75


class StallWatchdog:
    def __init__(self, limit_s: float, what: str, *, stopping: Callable[[], bool], grace_s: float = 10.0) -> None:
        self.limit_s, self.what, self.stopping, self.grace_s = limit_s, what, stopping, grace_s
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)

    def start(self) -> StallWatchdog:
        if self.limit_s > 0:
            self._thread.start()
        return self

    def beat(self) -> None:
        """Called each time the consumer's loop comes round."""
        self._last = time.monotonic()

    def _watch(self) -> None:
        stop_seen: float | None = None
        while True:
            time.sleep(min(1.0, self.limit_s / 4))
            quiet = time.monotonic() - self._last
            if self.stopping():
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen < self.grace_s:
                    continue
                log.error("%s did not stop within %.0f s of being asked: exiting", self.what, self.grace_s)
            elif quiet < self.limit_s:
                continue
            else:
                log.error(
                    "%s has not come back from Kafka for %.0f s (HUB_KAFKA_STALL_EXIT_S): exiting with %d for its "
                    "supervisor to restart it; its progress is in the database",
                    self.what,
                    quiet,
                    EXIT_STALLED,
                )
            logging.shutdown()
            os._exit(EXIT_STALLED)
