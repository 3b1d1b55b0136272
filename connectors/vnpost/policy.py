"""The postal policy: VNPost picks up every dossier submitted by post and delivers its result.

Work comes from the live dossier_state projection (channel POSTAL: a PICKUP order; and once the
result is issued, a DELIVERY order whose COD is the fee still unpaid) joined with hub_vnpost, this
policy's memory of the orders VNPost acknowledged. An order is created once: every call carries
the Idempotency-Key ``<dossier>:<direction>``, and VNPost answers Status 101 with the existing
ItemCode when the order exists, which counts as success. PostalOrderCreated goes to the log before
the memory is saved. Items not final are polled every ``track_after_s`` (a lost callback must not
hide a delivery), and each item once more when final, so a lost intermediate status is filled in.
Nothing is sent while the read models replay (policy_marks).

The citizen's address stays in the one-stop system (the hub keeps none): orders name the dossier
(OrderNumber) and the agency, and VNPost's BCCI integration reads the address from the one-stop.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.vnpost.client import VnpostClient
from connectors.vnpost.codes import FINAL_CODES, ORDER_TYPES
from connectors.vnpost.tracking import tracking_events
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError, UpstreamError
from hub.ports import EventLog
from hub.runtime.policy_loop import Looping, PolicyOptions, next_attempt, retry_due
from hub.store.policy_marks import ReplayGuard
from hub.store.sql_store import upsert, vnpost_table
from projections.registry import active_table

__all__ = ["PostalPolicy"]

log = logging.getLogger(__name__)
V = vnpost_table


def _order_of(work: Mapping[str, Any]) -> dict[str, Any]:
    """The order's row key: one order per dossier and direction."""
    code, direction = work["dossier_code"], work["direction"]
    return {"order_key": f"{code}:{direction}", "dossier_code": code, "direction": direction}


class PostalPolicy(Looping):
    name = "vnpost-orders"

    def __init__(
        self,
        client: VnpostClient,
        engine: Engine,
        events: EventLog,
        guard: ReplayGuard,
        options: PolicyOptions | None = None,
        *,
        track_after_s: float = 3600.0,
    ) -> None:
        self.client, self.engine, self.events, self.guard = client, engine, events, guard
        self.options = options or PolicyOptions()
        self.track_after_s = track_after_s
        self.counters: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="vnpost")

    # -- orders --------------------------------------------------------------------------------------

    def needed(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Orders VNPost has not acknowledged yet, not waiting out a backoff nor parked."""
        now = now or datetime.now(UTC)
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            state = active_table(conn, "dossier_state")
            s = state.c
            for direction in ORDER_TYPES:
                when = s.channel == "POSTAL"
                if direction == "DELIVERY":
                    when = sa.and_(when, s.finished_at.is_not(None), s.withdrawn_at.is_(None))
                memory = sa.and_(V.c.dossier_code == s.dossier_code, V.c.direction == direction)
                query = (
                    sa.select(s.dossier_code, s.agency_code, s.procedure_code, s.handling_unit)
                    .add_columns(s.fee_total_vnd, s.paid_total_vnd, V.c.attempts)
                    .select_from(state.outerjoin(V, memory))
                    .where(when)
                    .where(
                        sa.or_(
                            V.c.order_key.is_(None),
                            sa.and_(
                                V.c.item_code.is_(None),
                                retry_due(V.c.attempts, V.c.next_attempt_at, self.options.max_attempts, now),
                            ),
                        )
                    )
                    .order_by(s.last_event_at, s.dossier_code)
                    .limit(self.options.batch - len(out))
                )
                out += [{**r._mapping, "direction": direction} for r in conn.execute(query)]
        return out

    def _order_body(self, work: dict[str, Any]) -> dict[str, Any]:
        code, direction = work["dossier_code"], work["direction"]
        agency = work.get("handling_unit") or work.get("agency_code") or "Trung tâm Phục vụ hành chính công"
        citizen = f"Chủ hồ sơ {code}"
        sender, receiver = (citizen, agency) if direction == "PICKUP" else (agency, citizen)
        unpaid = max(int(work.get("fee_total_vnd") or 0) - int(work.get("paid_total_vnd") or 0), 0)
        return {
            "OrderNumber": code,
            "OrderType": ORDER_TYPES[direction],
            "SenderName": sender,
            "ReceiverName": receiver,
            "CODAmount": unpaid if direction == "DELIVERY" else 0,
            "Note": "Hồ sơ thủ tục hành chính" if direction == "PICKUP" else "Kết quả giải quyết TTHC",
        }

    def order(self, work: dict[str, Any]) -> tuple[dict[str, Any], Event | None]:
        code, direction = work["dossier_code"], work["direction"]
        key = f"{code}:{direction}"
        now = datetime.now(UTC)
        memory: dict[str, Any] = {**_order_of(work), "updated_at": now}
        body = self._order_body(work)
        try:
            reply = self.client.create(body, idempotency_key=key)
            answer, message = str(reply.get("Status")), str(reply.get("Message") or "")
        except UpstreamError as exc:
            answer, message = "transport", str(exc)
        item = reply.get("ItemCode") if answer in ("100", "101") else None
        if not isinstance(item, str) or not item:
            attempts = int(work.get("attempts") or 0) + 1
            parked = answer == "102"  # VNPost refuses the order itself: a person must look
            memory.update(
                attempts=self.options.max_attempts if parked else attempts,
                next_attempt_at=None if parked else next_attempt(attempts, self.options, now),
                last_error=f"{answer}: {message}"[:500],
            )
            self.counters["order_failed"] += 1
            log.warning("VNPost order %s failed (attempt %d): %s %s", key, attempts, answer, message[:200])
            return memory, None
        self.counters["ordered" if answer == "100" else "already_existed"] += 1
        memory.update(
            item_code=item, reply_status=answer, ordered_at=now, attempts=0, next_attempt_at=None, last_error=None
        )
        event = new_event(
            EventType.POSTAL_ORDER_CREATED,
            dossier_code=code,
            source_system=SourceSystem.HUB,
            source_ref=key,
            occurred_at=now,
            payload={
                "item_code": item,
                "order_number": code,
                "direction": direction,
                "customer_code": self.client.customer_code,
                "cod_amount_vnd": body["CODAmount"],
                "receiver_province": None,
            },
            agency_code=work.get("agency_code"),
            procedure_code=work.get("procedure_code"),
            correlation_id=item,
        )
        return memory, event

    # -- tracking ------------------------------------------------------------------------------------

    def silent(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Items to poll: not final and silent (last poll, or order, older than ``track_after_s``), or final
        but not yet read in full once (a lost callback of an intermediate status leaves a gap)."""
        now = now or datetime.now(UTC)
        quiet = now - timedelta(seconds=self.track_after_s)
        with self.engine.connect() as conn:
            items = active_table(conn, "postal")
            query = (
                sa.select(V.c.order_key, V.c.item_code)
                .select_from(V.outerjoin(items, items.c.item_code == V.c.item_code))
                .where(V.c.item_code.is_not(None), V.c.closed.is_(False))
                .where(sa.or_(items.c.final.is_(True), sa.func.coalesce(V.c.last_query_at, V.c.ordered_at) <= quiet))
                .order_by(V.c.ordered_at)
                .limit(self.options.batch)
            )
            return [dict(r._mapping) for r in conn.execute(query)]

    def poll(self, work: dict[str, Any]) -> tuple[list[Event], bool]:
        """The item's tracking as events, and whether it is final (read in full: no more polls)."""
        try:
            found = self.client.tracking(work["item_code"])
            statuses = [raw for raw in found.get("Events") or [] if isinstance(raw, dict)]
            events = [e for raw in statuses for e in tracking_events({**found, **raw})]
            self.counters["polled"] += 1
        except (UpstreamError, MappingError) as exc:
            log.warning("VNPost tracking of %s failed: %s", work["item_code"], exc)
            self.counters["poll_failed"] += 1
            return [], False
        return events, bool(statuses) and str(statuses[-1].get("StatusCode")) in FINAL_CODES

    # -- the loop ------------------------------------------------------------------------------------

    def _save(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                for row in rows:  # one by one: rows differ in the columns they set
                    upsert(conn, V, [row])

    def tick(self) -> int:
        """One pass: order what is needed, poll what is silent; the number of calls (0 while replaying)."""
        if not self.guard.live():
            self.counters["held_ticks"] += 1
            return 0
        works = self.needed()
        # Each order is known before VNPost is asked, so that a tracking callback racing the answer
        # finds it: callbacks for orders the hub never placed are refused (tracking.py).
        now = datetime.now(UTC)
        self._save([{**_order_of(w), "updated_at": now} for w in works])
        done = list(self._pool.map(self.order, works))
        self.events.append([event for _, event in done if event is not None])  # events first, then memory
        self._save([memory for memory, _ in done])
        silent = self.silent()
        polled = list(self._pool.map(self.poll, silent))
        self.events.append([e for events, _ in polled for e in events])  # events first, then memory
        if silent:
            now = datetime.now(UTC)
            with self.engine.begin() as conn:
                for work, (_, final) in zip(silent, polled, strict=True):
                    polled_now = sa.update(V).where(V.c.order_key == work["order_key"])
                    conn.execute(polled_now.values(last_query_at=now, updated_at=now, closed=final))
        return len(works) + len(silent)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()
