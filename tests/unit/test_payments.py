"""Payments: the IPN signature, the IPN receiver's refusals and once-per-reference outcomes, the
reconciliation rules, and the payments projection's order independence."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from connectors.common.record_fields import local_text
from connectors.common.security_log import refusals
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.paygov.reconcile import compare_payment
from connectors.paygov.signature import IPN_FIELDS, sign, verify
from hub.domain.events import Event, EventType, event_id_for, new_event
from hub.store.sql_store import make_engine, migrate, paygov_table
from projections.payments import PaymentsProjection, payment_ref
from tests.support.fakes import RecordingLog, project_in_memory

SECRET = "merchant-secret"
REF = "MC0123456789ABCDEF01"
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)  # within the callbacks' window


def ipn(
    code: str = "00", amount: int = 100_000, ref: str = REF, secret: str = SECRET, at: datetime = AT
) -> dict[str, Any]:
    fields = {
        "LoaiBanTin": "1",
        "MaLoi": code,
        "MaThamChieu": ref,
        "SoTien": str(amount),
        "MaGiaoDich": "GD0000000001",
        "MaNganHang": "VCB",
        "ThoiGianGD": local_text(at),
    }
    return {**fields, "MaXacThuc": sign(fields, secret)}


def test_the_signature_covers_every_field_and_the_secret() -> None:
    body = ipn()
    assert verify(body, SECRET) and verify({**body, "MaXacThuc": body["MaXacThuc"].upper()}, SECRET)
    assert not verify(body, "another-secret")
    for name in IPN_FIELDS:
        assert not verify({**body, name: str(body[name]) + "9"}, SECRET), f"{name} is not signed"
    assert not verify({k: v for k, v in body.items() if k != "MaXacThuc"}, SECRET)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    found = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    migrate(found)
    with found.begin() as conn:
        conn.execute(
            sa.insert(paygov_table).values(
                payment_ref=REF, dossier_code="G01-1", amount_vnd=100_000, initiated=True, updated_at=AT
            )
        )
    yield found
    found.dispose()


def test_refused_callbacks_are_security_events_never_payments(engine: Engine) -> None:
    log = RecordingLog()
    receiver = IpnReceiver(PaymentBook(engine, log), SECRET)
    assert receiver.receive({"MaThamChieu": REF})[0] == 400
    assert receiver.receive([1, 2])[0] == 400
    assert receiver.receive({**ipn(), "ThoiGianGD": "hôm qua"})[0] == 400
    assert receiver.receive(ipn(secret="guessed"))[0] == 401
    tampered = {**ipn(), "SoTien": "1000"}
    assert receiver.receive(tampered)[0] == 401
    assert receiver.receive(ipn(ref="MC99999999999999999999", secret=SECRET))[0] == 404
    status, answer = receiver.receive(ipn(amount=90_000))  # signed by the gateway, but not what was asked
    assert (status, answer["MaLoi"]) == (409, "04")
    assert log.events == []
    assert refusals(engine) == {"malformed": 3, "bad_signature": 2, "unknown_reference": 1, "amount_mismatch": 1}


def test_an_outcome_is_recorded_once_per_reference(engine: Engine) -> None:
    log = RecordingLog()
    receiver = IpnReceiver(PaymentBook(engine, log), SECRET)
    assert receiver.receive(ipn("51")) == (200, {"MaLoi": "00", "MoTa": "recorded"})  # a first try declined
    assert receiver.receive(ipn("51"))[1]["MoTa"] == "duplicate"
    assert receiver.receive(ipn("00"))[1]["MoTa"] == "recorded"  # then paid
    assert receiver.receive(ipn("00"))[1]["MoTa"] == "duplicate"
    assert receiver.receive(ipn("24"))[1]["MoTa"] == "stale"  # a failure reported after the payment
    kinds = [e.event_type for e in log.events]
    assert kinds == [EventType.PAYMENT_FAILED, EventType.PAYMENT_CONFIRMED]
    confirmed = log.events[1]
    assert confirmed.payload["amount_vnd"] == 100_000 and confirmed.occurred_at == AT
    assert confirmed.event_id == event_id_for("PAYGOV", REF, "PaymentConfirmed"), "a re-sent outcome has the same id"


def test_old_replayed_and_non_json_ipns_never_reach_the_book(engine: Engine) -> None:
    log = RecordingLog()
    receiver = IpnReceiver(PaymentBook(engine, log), SECRET)
    status, answer = receiver.receive(ipn(at=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert (status, answer["MaLoi"]) == (400, "02") and "older than" in answer["MoTa"], "a signed IPN of 2020"
    status, _ = receiver.receive(ipn(at=datetime.now(UTC) + timedelta(hours=2)))
    assert status == 400, "from the future"
    assert receiver.receive(ipn(), content_type="text/plain")[0] == 415
    assert receiver.receive(ipn())[1]["MoTa"] == "recorded"
    assert receiver.receive(ipn()) == (200, {"MaLoi": "00", "MoTa": "duplicate"})
    assert receiver.counters["replayed"] == 1, "the replay was answered from memory, not from the book"
    assert [e.event_type for e in log.events] == [EventType.PAYMENT_CONFIRMED]
    assert refusals(engine) == {"stale": 2, "content_type": 1}


def test_an_outcome_the_log_refused_is_asked_for_again_and_then_recorded(engine: Engine) -> None:
    log = RecordingLog()
    receiver = IpnReceiver(PaymentBook(engine, log), SECRET)
    log.fail_next = 1
    assert receiver.receive(ipn()) == (503, {"MaLoi": "99", "MoTa": "tạm thời không ghi nhận được, vui lòng gửi lại"})
    with engine.connect() as conn:
        assert conn.execute(sa.select(paygov_table.c.outcome)).scalar() is None
    assert receiver.receive(ipn())[1]["MoTa"] == "recorded"
    assert [e.event_type for e in log.events] == [EventType.PAYMENT_CONFIRMED]


def row(state: str, **extra: Any) -> dict[str, Any]:
    return {"dossier_code": "G01-1", "state": state, "memory": {"amount_vnd": 100_000}, **extra}


def gateway(status: int, amount: int = 100_000) -> dict[str, Any]:
    return {"MaThamChieu": REF, "MaHoSo": "G01-1", "SoTien": amount, "TrangThaiGD": status}


@pytest.mark.parametrize(
    ("hub", "gate", "rules"),
    [
        (row("paid", paid_amount_vnd=100_000), gateway(1), []),
        (row("failed"), gateway(4), []),
        (None, gateway(1), ["unknown_at_hub"]),
        (row("paid", paid_amount_vnd=100_000), None, ["missing_at_gateway"]),
        (row("failed"), gateway(1), ["unconfirmed_payment"]),
        (row("requested"), gateway(1), ["unconfirmed_payment"]),
        (row("paid", paid_amount_vnd=100_000), gateway(4), ["paid_in_hub_only"]),
        (row("paid", paid_amount_vnd=100_000), gateway(1, 120_000), ["amount_mismatch"]),
        (
            row("requested", fee_amount_vnd=100_000, requested_amount_vnd=90_000),
            gateway(3, 90_000),
            ["fee_request_mismatch"],
        ),
    ],
)
def test_reconciliation_rules(hub: dict[str, Any] | None, gate: dict[str, Any] | None, rules: list[str]) -> None:
    assert [f.rule for f in compare_payment(REF, hub, gate)] == rules


# -- the projection ----------------------------------------------------------------------------------

FEE_EVENT = new_event(
    EventType.FEE_ASSESSED,
    dossier_code="G01-1",
    source_system="ONESTOP",
    source_ref="fee",
    occurred_at=AT,
    payload={"fees": [], "total_vnd": 100_000},
)
PROJECTED_REF = payment_ref(str(FEE_EVENT.event_id))


def payment_event(kind: EventType, minutes: int, payload: dict[str, Any]) -> Event:
    return new_event(
        kind,
        dossier_code="G01-1",
        source_system="PAYGOV",
        source_ref=f"{kind.value}-{minutes}",
        occurred_at=AT + timedelta(minutes=minutes),
        payload={"payment_ref": PROJECTED_REF, "amount_vnd": 100_000, **payload},
    )


LIFE = [
    FEE_EVENT,
    payment_event(EventType.PAYMENT_REQUESTED, 1, {"payment_url": "https://pay/x", "expires_at": None}),
    payment_event(EventType.PAYMENT_FAILED, 5, {"error_code": "51", "reason": None}),
    payment_event(EventType.PAYMENT_FAILED, 7, {"error_code": "24", "reason": None}),
    payment_event(EventType.PAYMENT_CONFIRMED, 9, {"transaction_id": "GD1", "bank_code": "VCB"}),
]


def project(events: list[Event], batches: int) -> list[dict[str, Any]]:
    return project_in_memory(PaymentsProjection(), events, batches)


@settings(max_examples=60, deadline=None)
@given(st.permutations(LIFE), st.integers(1, 5), st.integers(0, 3))
def test_the_payment_row_is_the_same_in_any_order_and_duplication(
    events: list[Event], batches: int, dupes: int
) -> None:
    rng = random.Random(dupes)
    events = events + [rng.choice(events) for _ in range(dupes)]
    rows = project(events, batches)
    assert len(rows) == 1
    (found,) = rows
    assert found["payment_ref"] == PROJECTED_REF and found["state"] == "paid"
    assert (found["failure_code"], found["paid_amount_vnd"], found["fee_amount_vnd"]) == ("24", 100_000, 100_000)
    assert rows == project(LIFE, 1)
