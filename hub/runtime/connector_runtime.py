"""The runtime every connector shares: poll an upstream feed page by page and publish its events.

- The cursor is saved only after the page's events are acknowledged by the broker, so a crash
  re-reads at most one page; deterministic event ids make that re-read harmless downstream.
- Every call has a timeout (in the upstream client); failed calls are retried with exponential
  backoff and jitter (tenacity); a circuit breaker per upstream endpoint (pybreaker) stops hammering
  a system that is down, lets one trial call through after ``breaker_reset_s``, and closes again
  when the system answers.
- A record that cannot be mapped goes to the dead-letter topic with the raw record and the reason.
- Records seen recently (a duplicate in a page, the previous page's last record again) are skipped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import pybreaker
import tenacity

from hub.domain.events import Event
from hub.errors import MappingError, UpstreamError
from hub.log.dead_letters import DeadLetters
from hub.ports import EventLog, Page, Upstream
from hub.settings import Settings
from hub.store.connector_state import ConnectorState, ConnectorStateStore
from hub.store.sql_store import dumps

__all__ = ["ConnectorRunner", "StepOutcome"]

log = logging.getLogger(__name__)
_RECENT_IDS = 100_000  # enough to cover a few pages of redelivery; bounded memory


@dataclass
class StepOutcome:
    """What one step did: ``fetched`` a page (with ``more`` behind it), or waited on a failure/open breaker."""

    fetched: bool
    more: bool = False
    records: int = 0
    events: int = 0
    parked: int = 0
    waiting_s: float = 0.0


class _BreakerToState(pybreaker.CircuitBreakerListener):
    def __init__(self, runner: ConnectorRunner) -> None:
        self.runner = runner

    def state_change(self, cb: pybreaker.CircuitBreaker, old: object, new: object) -> None:
        name = getattr(new, "name", str(new))
        upstream = self.runner.upstream
        log.warning(
            "connector=%s endpoint=%s breaker %s -> %s",
            upstream.name,
            upstream.endpoint,
            getattr(old, "name", old),
            name,
            extra={
                "event": "breaker",
                "connector": upstream.name,
                "endpoint": upstream.endpoint,
                "breaker_state": name,
            },
        )
        self.runner.state.breaker_state = name
        if name == "open":
            self.runner._count("breaker_opens")
        self.runner.store.save(self.runner.state)

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        self.runner._count("failures")


class ConnectorRunner:
    def __init__(
        self,
        upstream: Upstream,
        event_log: EventLog,
        dead_letters: DeadLetters,
        store: ConnectorStateStore,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.upstream = upstream
        self.event_log = event_log
        self.dead_letters = dead_letters
        self.store = store
        self.settings = settings
        self.sleep = sleep
        self.state: ConnectorState = store.load(upstream.name)
        self.state.breaker_state = "closed"
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_s,
            exclude=[MappingError],
            listeners=[_BreakerToState(self)],
            name=f"{upstream.name}@{upstream.endpoint}",
        )
        self._recent: OrderedDict[str, None] = OrderedDict()

    def _count(self, counter: str, n: int = 1) -> None:
        self.state.counters[counter] = self.state.counters.get(counter, 0) + n

    def _fetch(self) -> Page:
        """One page, retried with backoff and jitter; each attempt passes through the breaker."""

        def before_sleep(retry_state: tenacity.RetryCallState) -> None:
            self._count("retries")
            error = retry_state.outcome.exception() if retry_state.outcome else None
            log.info(
                "connector=%s retry=%d after: %s",
                self.upstream.name,
                retry_state.attempt_number,
                error,
                extra={
                    "event": "retry",
                    "connector": self.upstream.name,
                    "attempt": retry_state.attempt_number,
                    "error": str(error),
                },
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.connector_retry_attempts),
            wait=tenacity.wait_exponential_jitter(multiplier=0.2, max=self.settings.connector_retry_max_s),
            retry=tenacity.retry_if_exception_type(UpstreamError),
            before_sleep=before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        cursor, limit = self.state.cursor, self.settings.connector_page_size
        return retrying(lambda: self.breaker.call(self.upstream.fetch, cursor, limit))

    def step(self) -> StepOutcome:
        """Fetch one page, publish its events, then (and only then) advance the cursor."""
        try:
            page = self._fetch()
        except pybreaker.CircuitBreakerError as exc:  # open: wait; after breaker_reset_s one trial goes through
            self.state.breaker_state = self.breaker.current_state
            self.state.last_error = str(exc.__cause__ or exc)[:500]
            return StepOutcome(fetched=False, waiting_s=min(1.0, self.settings.breaker_reset_s))
        except UpstreamError as exc:
            self.state.last_error = str(exc)[:500]
            self.state.breaker_state = self.breaker.current_state
            self.store.save(self.state)
            log.warning(
                "connector=%s page failed after retries: %s",
                self.upstream.name,
                exc,
                extra={"event": "page_failed", "connector": self.upstream.name, "error": str(exc)},
            )
            return StepOutcome(fetched=False, waiting_s=1.0)

        events: list[Event] = []
        fresh_ids = []
        parked = 0
        for record in page.records:
            if record.record_id in self._recent or record.record_id in fresh_ids:
                self._count("duplicates_skipped")
                continue
            fresh_ids.append(record.record_id)
            try:
                events.extend(self.upstream.map(record))
            except MappingError as exc:
                raw = dumps(dict(self.upstream.redact(record.raw))).encode("utf-8")
                self.dead_letters.park_upstream(
                    raw, exc.reason, self.upstream.name, record.record_id, record.key.encode() if record.key else None
                )
                parked += 1
        self.event_log.append(events)  # returns once the broker acknowledged every event
        for record_id in fresh_ids:
            self._recent[record_id] = None
        while len(self._recent) > _RECENT_IDS:
            self._recent.popitem(last=False)
        self._count("records_read", len(page.records))
        self._count("events_produced", len(events))
        self._count("parked", parked)
        self._count("pages")
        self.state.cursor = page.next_cursor
        self.state.breaker_state = self.breaker.current_state
        self.state.last_error = None
        self.store.save(self.state)  # after the acknowledgement: a crash before here re-reads this page
        return StepOutcome(True, page.more, len(page.records), len(events), parked)

    def run(
        self,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        idle_exit_s: float | None = None,
        on_step: Callable[[StepOutcome], None] | None = None,
    ) -> ConnectorState:
        """Step until stopped, or until the upstream has had nothing new for ``idle_exit_s``."""
        idle_since = time.monotonic()
        while not should_stop():
            outcome = self.step()
            if on_step is not None:
                on_step(outcome)
            if outcome.fetched and (outcome.records or outcome.more):
                idle_since = time.monotonic()
            if outcome.fetched and outcome.more:
                continue
            if idle_exit_s is not None and outcome.fetched and time.monotonic() - idle_since >= idle_exit_s:
                break
            pause = outcome.waiting_s if not outcome.fetched else self.settings.connector_poll_interval_s
            if idle_exit_s is not None and outcome.fetched:
                pause = min(pause, 0.5)
            self.sleep(pause)
        self.store.save(self.state)
        return self.state
