"""Synthetic but realistic dossier lives, streamed in the order a log would see them.

A province-like mix for tests, benchmarks and the demo: 21 agencies, channels about 30% direct /
69% online / 1% postal, about five events per dossier (plain, with processing steps, with fees and
payment, with a supplement round, overdue with an apology, refused, withdrawn), ~350 new dossiers
a day. Deterministic from the seed, so a test knows the ground truth.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.domain.events import LOCAL_TZ, Event, EventType, SourceSystem, new_event
from hub.domain.identity import protect_identity
from simulators.agencies import AGENCY_CODES

__all__ = ["DossierLife", "digitised_result", "province_events"]

T = EventType
PROCEDURES = [f"1.00{n:04d}" for n in range(1000, 1060)]
START = datetime(2026, 1, 5, 7, 30, tzinfo=LOCAL_TZ)


class DossierLife:
    """Builds one dossier's events, each recorded two seconds after it occurred; the one way every
    generator here writes a dossier's life."""

    def __init__(self, code: str, agency: str, procedure: str, at: datetime, rng: random.Random | None = None) -> None:
        self.code, self.agency, self.procedure, self.at = code, agency, procedure, at
        self.rng = rng or random.Random(code)
        self.events: list[Event] = []

    @classmethod
    def drawn(cls, rng: random.Random, number: int, at: datetime) -> DossierLife:
        """A dossier of an agency and procedure drawn from the province's."""
        agency = rng.choice(AGENCY_CODES)
        procedure = rng.choice(PROCEDURES)
        return cls(f"{agency}-{at:%y%m%d}-{number % 10_000:04d}", agency, procedure, at, rng)

    def add(
        self,
        kind: T,
        payload: dict[str, Any],
        system: SourceSystem = SourceSystem.ONESTOP,
        *,
        ref: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """The next event, at ``at`` (default: where the life's clock stands), under ``ref`` (default: the
        type and the event's place in the life)."""
        self.at = at or self.at
        occurred = self.at.replace(microsecond=0)  # whole seconds, as upstream systems send
        self.events.append(
            new_event(
                kind,
                dossier_code=self.code,
                source_system=system,
                source_ref=f"{self.code}/{ref or f'{kind.value}/{len(self.events)}'}",
                occurred_at=occurred,
                recorded_at=occurred + timedelta(seconds=2),
                payload=payload,
                agency_code=self.agency,
                procedure_code=self.procedure,
                correlation_id=self.code,
            )
        )

    def later(self, hours: float) -> datetime:
        """Move the life's clock on by ``hours`` and a random part of an hour."""
        self.at += timedelta(hours=hours, minutes=self.rng.randint(0, 59))
        return self.at


def _life(rng: random.Random, number: int, at: datetime, key: bytes) -> list[Event]:
    d = DossierLife.drawn(rng, number, at)
    roll = rng.random()
    channel = "DIRECT" if roll < 0.30 else "ONLINE" if roll < 0.99 else "POSTAL"
    online = channel == "ONLINE"
    identity = protect_identity(f"0{rng.randint(10**10, 10**11 - 1)}", key).as_record()
    d.add(
        T.DOSSIER_SUBMITTED,
        {
            "channel": channel,
            "online_level": rng.choice(["FULL", "PARTIAL"]) if online else "NOT_ONLINE",
            "service_code": f"2.{rng.randint(1, 999):06d}" if online else None,
            "applicant": {"kind": "CITIZEN" if rng.random() < 0.85 else "ORGANISATION", "identity": identity},
            "documents": ["Tờ khai", "Bản sao giấy tờ"],
            "due_at": None,
        },
        SourceSystem.DVCQG if online else SourceSystem.ONESTOP,
    )
    if channel == "POSTAL":
        d.add(
            T.POSTAL_ORDER_CREATED,
            {
                "item_code": f"EB{number:09d}VN",
                "order_number": d.code,
                "direction": "PICKUP",
                "customer_code": "HCC-H56",
            },
            SourceSystem.VNPOST,
        )
    kind = rng.random()
    if kind < 0.03:
        d.later(20)
        d.add(T.DOSSIER_REFUSED, {"reason": "Hồ sơ không thuộc thẩm quyền"})
        return d.events
    received = d.later(2)
    due = received + timedelta(days=rng.randint(3, 15))
    d.add(T.DOSSIER_ACCEPTED, {"receipt_number": f"BN-{number}", "due_at": due, "handling_unit": "Bộ phận Một cửa"})
    if kind < 0.05:
        d.later(30)
        d.add(T.DOSSIER_WITHDRAWN, {"reason": "Công dân rút hồ sơ"})
        return d.events
    if kind < 0.25:
        d.add(
            T.PROCESSING_STEP_RECORDED,
            {
                "step": "APPRAISE",
                "description": "Thẩm định hồ sơ",
                "handler": "Chuyên viên",
                "national_status": 4,
                "started_at": None,
                "step_due_at": None,
            },
        )
        d.later(20)
        d.add(
            T.PROCESSING_STEP_RECORDED,
            {
                "step": "APPROVE",
                "description": "Phê duyệt",
                "handler": "Lãnh đạo phòng",
                "national_status": 4,
                "started_at": None,
                "step_due_at": None,
            },
        )
    elif kind < 0.37:
        amount = rng.choice([50_000, 100_000, 200_000, 500_000])
        d.add(
            T.FEE_ASSESSED,
            {
                "fees": [
                    {
                        "code": "LP01",
                        "name": "Lệ phí",
                        "amount_vnd": amount,
                        "kind": "CHARGE",
                        "collected": "AT_ACCEPTANCE",
                    }
                ],
                "total_vnd": amount,
            },
        )
        d.later(1)
        d.add(
            T.PAYMENT_CONFIRMED,
            {"payment_ref": f"PG-{number}", "amount_vnd": amount, "transaction_id": f"GD{number}", "bank_code": "VCB"},
            SourceSystem.PAYGOV,
        )
    elif kind < 0.45:
        d.later(24)
        d.add(
            T.SUPPLEMENT_REQUESTED,
            {"round": 1, "requested_by": "Chuyên viên", "content": "Bổ sung giấy tờ", "previous_due_at": due},
        )
        d.later(48)
        due = due + timedelta(days=3)
        d.add(T.SUPPLEMENT_PROVIDED, {"round": 1, "new_due_at": due})
    elif kind < 0.49:
        d.at = due - timedelta(hours=3)
        new_due = due + timedelta(days=rng.randint(2, 5))
        d.add(
            T.DUE_DATE_EXTENDED,
            {"previous_due_at": due, "new_due_at": new_due, "reason": "Chờ phối hợp", "apology_ref": f"XL-{number}"},
        )
        due = new_due
    finish = d.later(rng.uniform(24, (due - d.at).total_seconds() / 3600 + 24))
    d.add(
        T.RESULT_ISSUED,
        {
            "result_code": f"KQ-{number}",
            "document_number": f"{number}/GP",
            "issuing_agency": "UBND tỉnh",
            "signer": "Lãnh đạo",
            "issued_at": finish,
        },
    )
    d.later(rng.uniform(1, 48))
    d.add(T.RESULT_RETURNED, {"channel": channel if channel != "POSTAL" else "POSTAL"})
    if rng.random() < 0.12:
        d.later(5)
        d.add(
            T.SATISFACTION_RATED,
            {"rating": rng.choice(["VERY_SATISFIED", "SATISFIED", "SATISFIED", "NOT_SATISFIED"])},
            SourceSystem.DVCQG,
        )
    return d.events


def province_events(count: int, seed: int = 2026, key: bytes = b"synthetic-identity-key") -> Iterator[Event]:
    """``count`` events of many dossiers, in occurred_at order, memory bounded by dossiers in flight."""
    rng = random.Random(seed)
    pending: list[tuple[datetime, int, Event]] = []
    emitted = tiebreak = number = 0
    at = START
    while emitted < count:
        number += 1
        at += timedelta(seconds=rng.expovariate(350 / (9 * 3600)))  # ~350 a day in office hours
        if at.astimezone(LOCAL_TZ).hour >= 17:
            at = (at + timedelta(days=1)).replace(hour=7, minute=30)
        for event in _life(rng, number, at, key):
            tiebreak += 1
            heapq.heappush(pending, (event.occurred_at, tiebreak, event))
        while pending and pending[0][0] <= at and emitted < count:
            yield heapq.heappop(pending)[2]
            emitted += 1


def digitised_result(
    code: str,
    n: int,
    uri: str,
    content: bytes,
    key: bytes,
    replaces: str | None = None,
    *,
    dossier_code: str | None = None,
    agency_code: str = "G01",
    at: datetime | None = None,
) -> Event:
    """A ResultDigitised claim-check for ``content`` served at ``uri`` (tests and benchmarks)."""
    owner = protect_identity(f"0{(n * 7919) % 10**11:011d}", key).as_record()
    at = at or datetime(2026, 4, 1, 2, tzinfo=UTC) + timedelta(minutes=n)
    return new_event(
        EventType.RESULT_DIGITISED,
        dossier_code=dossier_code or f"G01-KQ-{n % 4000:05d}",
        source_system=SourceSystem.ONESTOP,
        source_ref=f"so-hoa/{code}",
        occurred_at=at,
        agency_code=agency_code,
        procedure_code="1.000001",
        payload={
            "result_code": code,
            "national_code": None,
            "owner": owner,
            "document_number": f"{n}/GP-01",
            "issued_at": at,
            "issuing_agency": "Sở Xây dựng",
            "signer": "Giám đốc Sở",
            "summary": "Giấy phép xây dựng",
            "valid_until": None,
            "scope": None,
            "kind": "RESULT",
            "digitised_by": "Cán bộ số hóa",
            "file": {
                "uri": uri,
                "sha256": hashlib.sha256(content).hexdigest(),
                "size_bytes": len(content),
                "media_type": "application/pdf",
            },
            "replaces_result_code": replaces,
            "reusable": True,
            "from_national_store": False,
        },
    )
