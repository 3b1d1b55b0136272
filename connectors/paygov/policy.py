"""The payment policy: every fee assessed gets a PayGov payment (INIT), and every payment left
without an outcome for ``requery_after_s`` (30 minutes by PayGov's guides) is asked for (QUERY).

Work comes from the live payments projection (state ``due``) joined with hub_paygov, this policy's
memory of the INITs PayGov acknowledged. INIT is idempotent by reference (the reference derives
from the fee event), and PaymentRequested goes to the log before the memory is saved: a crash in
between INITs again and gets the same answer. Outcomes found by QUERY go through the same
once-per-reference book as IPNs. Nothing is sent while the read models replay (policy_marks).
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connectors.common.record_fields import local_time
from connectors.common.security_log import record_refusal
from connectors.paygov.book import Expected, PaymentBook
from connectors.paygov.client import PayGovClient
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError, UpstreamError
from hub.ports import EventLog
from hub.runtime.policy_loop import Looping, PolicyOptions, next_attempt, retry_due
from hub.store.policy_marks import ReplayGuard
from hub.store.sql_store import paygov_table, upsert
from projections.registry import active_table

__all__ = ["PaymentPolicy"]

log = logging.getLogger(__name__)
P = paygov_table
SUCCESS, PENDING, FAILED = 1, 3, 4


class PaymentPolicy(Looping):
    name = "paygov-payments"

    def __init__(
        self,
        client: PayGovClient,
        book: PaymentBook,
        events: EventLog,
        guard: ReplayGuard,
        options: PolicyOptions | None = None,
        *,
        requery_after_s: float = 1800.0,
        requery_every_s: float = 600.0,
    ) -> None:
        self.client, self.book, self.events, self.guard = client, book, events, guard
        self.options = options or PolicyOptions()
        self.requery_after_s, self.requery_every_s = requery_after_s, requery_every_s
        self.counters: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="paygov")

    # -- INIT ----------------------------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Fees assessed with no acknowledged INIT, not waiting out a backoff nor parked. A payment whose
        outcome came before its INIT's answer (a timeout, a fast payer) is INITed again (idempotent: the
        same answer), so its request is on the timeline too."""
        now = now or datetime.now(UTC)
        with self.book.engine.connect() as conn:
            table = active_table(conn, "payments")
            t = table.c
            query = (
                sa.select(
                    t.payment_ref, t.dossier_code, t.fee_amount_vnd, t.agency_code, t.procedure_code, P.c.attempts
                )
                .select_from(table.outerjoin(P, P.c.payment_ref == t.payment_ref))
                .where(t.requested_at.is_(None), t.fee_amount_vnd > 0)  # even if paid already: see below
                .where(
                    sa.or_(
                        P.c.payment_ref.is_(None),
                        sa.and_(
                            P.c.initiated.is_(False),
                            retry_due(P.c.attempts, P.c.next_attempt_at, self.options.max_attempts, now),
                        ),
                    )
                )
                .order_by(t.assessed_at, t.payment_ref)
                .limit(self.options.batch)
            )
            return [dict(r._mapping) for r in conn.execute(query)]

    def initiate(self, work: dict[str, Any]) -> tuple[dict[str, Any], Event | None]:
        """INIT one payment: the memory row to save and, when acknowledged, its PaymentRequested."""
        ref, code, amount = work["payment_ref"], work["dossier_code"], int(work["fee_amount_vnd"])
        now = datetime.now(UTC)
        memory: dict[str, Any] = {"payment_ref": ref, "dossier_code": code, "amount_vnd": amount, "updated_at": now}
        try:
            reply = self.client.init(ref, amount, code, f"Nộp phí, lệ phí hồ sơ {code}")
            answer, message = str(reply.get("MaLoi")), str(reply.get("MoTa") or "")
        except UpstreamError as exc:
            answer, message = "transport", str(exc)
        if answer != "00":
            attempts = int(work.get("attempts") or 0) + 1
            parked = answer == "09"  # the reference exists with another amount: a person must look
            memory.update(
                attempts=attempts,
                next_attempt_at=None if parked else next_attempt(attempts, self.options, now),
                last_error=f"{answer}: {message}"[:500],
            )
            if parked:
                memory["attempts"] = self.options.max_attempts
            self.counters["init_failed"] += 1
            log.warning("PayGov INIT of %s failed (attempt %d): %s %s", ref, attempts, answer, message[:200])
            return memory, None
        url = reply.get("UrlThanhToan")
        memory.update(
            initiated=True, initiated_at=now, payment_url=url, attempts=0, next_attempt_at=None, last_error=None
        )
        self.counters["initiated"] += 1
        event = new_event(
            EventType.PAYMENT_REQUESTED,
            dossier_code=code,
            source_system=SourceSystem.HUB,
            source_ref=ref,
            occurred_at=now,
            payload={"payment_ref": ref, "amount_vnd": amount, "payment_url": url, "expires_at": None},
            agency_code=work.get("agency_code"),
            procedure_code=work.get("procedure_code"),
            correlation_id=ref,
        )
        return memory, event

    # -- QUERY ---------------------------------------------------------------------------------------

    def stale(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """INITs with no outcome for ``requery_after_s``, not asked about in the last ``requery_every_s``."""
        now = now or datetime.now(UTC)
        quiet = now - timedelta(seconds=self.requery_every_s)
        with self.book.engine.connect() as conn:
            query = (
                sa.select(P.c.payment_ref, P.c.dossier_code, P.c.amount_vnd, P.c.queries)
                .where(P.c.initiated.is_(True), P.c.outcome.is_(None))
                .where(P.c.initiated_at <= now - timedelta(seconds=self.requery_after_s))
                .where(sa.or_(P.c.last_query_at.is_(None), P.c.last_query_at <= quiet))
                .order_by(P.c.initiated_at)
                .limit(self.options.batch)
            )
            return [dict(r._mapping) for r in conn.execute(query)]

    def requery(self, work: dict[str, Any]) -> str:
        ref = work["payment_ref"]
        expected = Expected(ref, work["dossier_code"], int(work["amount_vnd"]))
        outcome = "pending"
        try:
            reply = self.client.query(ref)
            status = reply.get("TrangThaiGD")
            if reply.get("MaLoi") != "00":
                outcome = f"error {reply.get('MaLoi')}"
            elif status in (SUCCESS, FAILED):
                if int(reply.get("SoTien") or -1) != expected.amount_vnd:
                    detail = f"QUERY says {reply.get('SoTien')} was paid under {ref}, {expected.amount_vnd} was asked"
                    record_refusal(self.book.engine, "PAYGOV", "amount_mismatch", detail, reference=ref)
                    outcome = "amount_mismatch"
                else:
                    outcome = self.book.settle(
                        expected,
                        paid=status == SUCCESS,
                        at=local_time(str(reply.get("ThoiGianGD")), "ThoiGianGD"),
                        transaction_id=str(reply.get("MaGiaoDich") or ""),
                        bank_code=reply.get("MaNganHang"),
                        error_code=str(reply.get("MaLoiGD") or status),
                        reason="found by QUERY",
                    )
        except (UpstreamError, MappingError) as exc:
            outcome = f"error {exc}"
        with self.book.engine.begin() as conn:
            upsert(
                conn,
                P,
                [
                    {
                        **work,
                        "queries": int(work["queries"]) + 1,
                        "last_query_at": datetime.now(UTC),
                        "updated_at": datetime.now(UTC),
                    }
                ],
            )
        self.counters[f"query_{outcome.split(' ')[0]}"] += 1
        return outcome

    # -- the loop ------------------------------------------------------------------------------------

    def tick(self) -> int:
        """One pass: INIT what is due, QUERY what is stale; the number of calls made (0 while replaying)."""
        if not self.guard.live():
            self.counters["held_ticks"] += 1
            return 0
        works = self.due()
        done = list(self._pool.map(self.initiate, works))
        self.events.append([event for _, event in done if event is not None])  # events first, then memory
        if done:
            with self.book.engine.begin() as conn:
                for memory, _ in done:  # one by one: rows differ in the columns they set
                    upsert(conn, P, [memory])
        stale = self.stale()
        list(self._pool.map(self.requery, stale))
        return len(works) + len(stale)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()
