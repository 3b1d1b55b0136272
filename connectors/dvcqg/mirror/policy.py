"""The national status mirror: a policy that keeps the portal's copy of each dossier current.

For every dossier the portal is behind on (see mirror_store), it sends the dossier record with
``DongBoHoSoMC`` (insert; on "already exists", error_code 2, an update) when the record changed, then
the steps the portal has not acknowledged with ``CapNhatTienDoHoSoMC``, at most 10 a call; when a
batch partly fails only the failed steps are sent again. Every outcome becomes an event on the
dossier's timeline: NationalStatusSynced once a version is fully acknowledged, NationalSyncFailed
for each failed attempt (with whether it will be retried).

Exactly-once in effect on the portal:
- every call carries an Idempotency-Key derived from what it sends (dossier code + version for the
  record; the step event ids, attempt and round for a batch), so the same call made again (after a
  crash between the call and saving its outcome) replays the portal's answer, never re-applies;
- after an attempt whose outcome is unknown (timeout, 5xx, broken connection, or a process killed
  before it saved the outcome) the next attempt first reads the portal's copy (``TraCuuHoSo``) and
  counts the steps it already holds;
- events go to the log before our memory (hub_dvcqg_mirror) is saved: a crash between the two
  re-sends under the same keys, and the event ids are deterministic.
While the read models replay, nothing is sent (hub/store/policy_marks.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from connectors.dvcqg.client import DvcqgClient, PortalError
from connectors.dvcqg.mirror.payload import acknowledged_on_portal, digest
from connectors.dvcqg.mirror.store import MirrorStore, Work
from hub.domain.events import Event, EventType, hub_event
from hub.ports import EventLog
from hub.runtime.policy_loop import Looping, PolicyOptions, next_attempt
from hub.store.policy_marks import ReplayGuard

__all__ = ["MAX_STEPS_PER_CALL", "MirrorOptions", "NationalMirror"]

log = logging.getLogger(__name__)
MAX_STEPS_PER_CALL = 10
POLICY = "dvcqg-mirror"
T = TypeVar("T")


@dataclass(frozen=True)
class MirrorOptions(PolicyOptions):
    """Parked (will_retry false) after max_attempts until the dossier changes or a reconcile repairs it."""

    partial_rounds: int = 3  # re-sends of failed steps within one attempt


def _batch_key(code: str, event_ids: Sequence[str], attempt: int, round_: int) -> str:
    """Same batch, same attempt and round -> same key (a restart replays the stored answer). A refused
    step is re-sent in a new round, so under a new key: the old key would return the refusal again."""
    ids = hashlib.sha256(",".join(sorted(event_ids)).encode()).hexdigest()[:20]
    return f"{code}:steps:{ids}:a{attempt}r{round_}"


class NationalMirror(Looping):
    name = POLICY

    def __init__(
        self,
        client: DvcqgClient,
        store: MirrorStore,
        events: EventLog,
        guard: ReplayGuard,
        options: MirrorOptions | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.events = events
        self.guard = guard
        self.options = options or MirrorOptions()
        self.counters: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="dvcqg-mirror")

    # -- the portal's calls -----------------------------------------------------------------------

    def lookup(self, code: str) -> dict[str, Any] | None:
        """The portal's copy of a dossier with its steps, or None when it has none."""
        body = self.client.attempt("GET", "/api/TraCuuHoSo", params={"MaHoSo": code})
        if str(body.get("error_code")) == "4":
            return None
        if str(body.get("error_code")) != "0" or not isinstance(body.get("data"), dict):
            raise PortalError(str(body.get("error_code")), f"TraCuuHoSo: {body.get('message')}", uncertain=False)
        found: dict[str, Any] = body["data"]
        return found

    def learn(self, work: Work, portal: dict[str, Any] | None) -> None:
        """Take the portal's copy as what it holds: present or not, and which of our steps it has."""
        o = work.outbox
        o.on_portal = portal is not None
        steps = portal.get("QuaTrinhXuLy") or [] if portal else []
        o.acked_steps = acknowledged_on_portal(work.steps, steps)

    def _record(self, work: Work, key: str, *, update: bool) -> str:
        body = {"data": [work.item], **({"isUpdate": True} if update else {})}
        reply = self.client.attempt(
            "POST", "/api/DongBoHoSoMC", json=body, idempotency_key=f"{key}:{'update' if update else 'insert'}"
        )
        return str(reply.get("error_code"))

    def _send_record(self, work: Work, key: str) -> str:
        """Insert or update the dossier record; the operation used."""
        o = work.outbox
        operation = "UPDATE" if o.on_portal else "INSERT"
        answer = self._record(work, key, update=o.on_portal)
        if answer == "2":  # already exists: it was filed by another channel, or by us before we lost track
            self.learn(work, self.lookup(work.code))
            operation, answer = "UPDATE", self._record(work, key, update=True)
        elif answer == "4":  # an update of a dossier the portal lost: file it again
            o.acked_steps.clear()
            operation, answer = "INSERT", self._record(work, key, update=False)
        if answer != "0":
            raise PortalError(
                answer,
                f"DongBoHoSoMC refused the dossier (error_code {answer})",
                uncertain=False,
                retryable=answer != "3",
            )
        o.on_portal, o.sent_digest = True, digest(work.item)
        return operation

    def _send_steps(self, work: Work) -> int:
        """Send the steps the portal lacks, re-sending only failed ones; the number acknowledged."""
        o = work.outbox
        before = len(o.acked_steps)
        for round_ in range(self.options.partial_rounds):
            todo = [(event_id, item) for event_id, item in work.steps if event_id not in o.acked_steps]
            if not todo:
                break
            for start in range(0, len(todo), MAX_STEPS_PER_CALL):
                chunk = todo[start : start + MAX_STEPS_PER_CALL]
                ids = [event_id for event_id, _ in chunk]
                reply = self.client.attempt(
                    "POST",
                    "/api/CapNhatTienDoHoSoMC",
                    json={"data": [item for _, item in chunk]},
                    idempotency_key=_batch_key(work.code, ids, o.attempts, round_),
                )
                answer = str(reply.get("error_code"))
                if answer == "0":
                    o.acked_steps.update(ids)
                elif answer == "1" and isinstance(reply.get("failed"), list):
                    failed = {int(i) for i in reply["failed"] if isinstance(i, int)}
                    o.acked_steps.update(event_id for i, event_id in enumerate(ids) if i not in failed)
                    self.counters["partial_batches"] += 1
                else:
                    raise PortalError(
                        answer, f"CapNhatTienDoHoSoMC refused the steps (error_code {answer})", uncertain=False
                    )
        missing = sum(1 for event_id, _ in work.steps if event_id not in o.acked_steps)
        if missing:
            raise PortalError(
                "1", f"{missing} step(s) still failing after {self.options.partial_rounds} rounds", uncertain=False
            )
        return len(o.acked_steps) - before

    # -- one dossier ------------------------------------------------------------------------------

    def sync(self, work: Work, *, repair: str | None = None) -> Event:
        """Bring the portal to ``work.version``; the event that records the outcome. Mutates work.outbox."""
        o = work.outbox
        if o.attempt_version != work.version:
            o.attempt_version, o.attempts = work.version, 0
        key = f"{work.code}:v{work.version}" + (f":{repair}" if repair else "")
        try:
            if o.uncertain:
                self.learn(work, self.lookup(work.code))
                o.uncertain = False
            operation = "STEPS_ONLY"
            if not o.on_portal or o.sent_digest != digest(work.item):
                operation = self._send_record(work, key)
            synced = self._send_steps(work)
        except PortalError as failure:
            return self._failed(work, failure)
        o.sent_version, o.attempts, o.next_attempt_at, o.last_error = work.version, 0, None, None
        self.counters["synced"] += 1
        return self._event(
            work,
            EventType.NATIONAL_STATUS_SYNCED,
            key,
            {
                "national_status": work.national_status,
                "sync_version": work.version,
                "operation": operation,
                "steps_synced": synced,
            },
        )

    def _failed(self, work: Work, failure: PortalError) -> Event:
        o = work.outbox
        o.attempts += 1
        o.uncertain = o.uncertain or failure.uncertain
        o.last_error = f"{failure.error_code}: {failure.reason}"[:500]
        will_retry = failure.retryable and o.attempts < self.options.max_attempts
        o.next_attempt_at = next_attempt(o.attempts, self.options) if will_retry else None
        if not failure.retryable:
            o.attempts = max(o.attempts, self.options.max_attempts)  # parked: only a new version or a repair
        self.counters["failed_attempts"] += 1
        log.warning(
            "mirror of %s v%d failed (attempt %d, %s): %s",
            work.code,
            work.version,
            o.attempts,
            "will retry" if will_retry else "parked",
            o.last_error,
            extra={"dossier_code": work.code, "error_code": failure.error_code, "will_retry": will_retry},
        )
        return self._event(
            work,
            EventType.NATIONAL_SYNC_FAILED,
            f"{work.code}:v{work.version}:a{o.attempts}",
            {
                "national_status": work.national_status,
                "sync_version": work.version,
                "error_code": failure.error_code,
                "reason": failure.reason[:500],
                "attempt": o.attempts,
                "will_retry": will_retry,
            },
        )

    def _event(self, work: Work, kind: EventType, ref: str, payload: dict[str, Any]) -> Event:
        return hub_event(
            kind, work.code, ref, payload, agency_code=work.agency_code, procedure_code=work.procedure_code
        )

    # -- the loop ---------------------------------------------------------------------------------

    def commit(self, works: Sequence[Work], events: Sequence[Event]) -> None:
        """Events first, then our memory: a crash in between re-sends under the same keys."""
        self.events.append(events)
        self.store.save(w.outbox for w in works)

    def tick(self) -> int:
        """One pass over the work list; the number of dossiers attempted (0: nothing to do or replaying)."""
        if not self.guard.live():
            self.counters["held_ticks"] += 1
            return 0
        works = self.store.pending(self.options.batch, max_attempts=self.options.max_attempts)
        if not works:
            return 0
        # Until commit, what the portal got from this pass is unknown: a process killed in between must
        # look (TraCuuHoSo) before sending steps again, since new steps may make its batches, and so
        # their Idempotency-Keys, differ (found by the system test: steps held twice after a SIGKILL).
        self.store.save(dataclasses.replace(w.outbox, uncertain=True) for w in works)
        events = self.map(self.sync, works)
        self.commit(works, events)
        return len(works)

    def map(self, job: Callable[[Work], T], works: Sequence[Work]) -> list[T]:
        """``job`` over ``works`` with the policy's concurrency (calls to the portal in parallel)."""
        return list(self._pool.map(job, works))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
