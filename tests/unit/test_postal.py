"""Postal tracking: callbacks to events, the receiver's refusals, the reconciliation rules, and the
postal projection's order independence and flags."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.common.record_fields import local_text
from connectors.common.security_log import refusals
from connectors.vnpost.codes import body_signature
from connectors.vnpost.reconcile import compare_item
from connectors.vnpost.tracking import TrackingReceiver, tracking_events
from hub.domain.events import Event, EventType, new_event
from hub.errors import MappingError
from hub.store.sql_store import make_engine, migrate, upsert, vnpost_table
from projections.postal import PostalProjection
from tests.support.fakes import RecordingLog, project_in_memory

SECRET = "vnpost-secret"
ITEM = "EB000000001VN"
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)  # within the callbacks' window


def status(code: str, hours: int, order_type: str = "TRA_KET_QUA") -> dict[str, Any]:
    return {
        "ItemCode": ITEM,
        "OrderNumber": "G01-1",
        "OrderType": order_type,
        "StatusCode": code,
        "Time": local_text(AT + timedelta(hours=hours)),
        "Location": "Bưu cục",
    }


def test_a_delivered_result_is_returned_by_post_and_a_delivered_pickup_is_not() -> None:
    delivered = tracking_events(status("500", 9))
    assert [e.event_type for e in delivered] == [EventType.POSTAL_STATUS_CHANGED, EventType.RESULT_RETURNED]
    assert delivered[0].payload["status"] == "DELIVERED" and delivered[1].payload["channel"] == "POSTAL"
    assert delivered[0].occurred_at == AT + timedelta(hours=9)
    assert [e.event_type for e in tracking_events(status("500", 9, "NHAN_HO_SO"))] == [EventType.POSTAL_STATUS_CHANGED]
    assert tracking_events(status("550", 6))[0].payload["status"] == "DELIVERY_FAILED"
    twice = [tracking_events(status("300", 3))[0].event_id for _ in range(2)]
    assert twice[0] == twice[1], "the same status read twice (callback, query) is one event"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"StatusCode": "999"}, "StatusCode"),
        ({"Time": "mai"}, "Time"),
        ({"OrderType": "X"}, "OrderType"),
        ({"ItemCode": ""}, "ItemCode"),
    ],
)
def test_unusable_tracking_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(MappingError, match=field):
        tracking_events({**status("300", 3), **change})


def test_callbacks_are_verified_before_they_are_read(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    migrate(engine)
    log = RecordingLog()
    receiver = TrackingReceiver(engine, log, SECRET)
    body = orjson.dumps(status("400", 4))
    assert receiver.receive(body, body_signature(body, SECRET))[0] == 404, "the hub placed no such order"
    with engine.begin() as conn:  # the policy's order, before VNPost answered with its ItemCode
        upsert(
            conn,
            vnpost_table,
            [{"order_key": "G01-1:DELIVERY", "dossier_code": "G01-1", "direction": "DELIVERY", "updated_at": AT}],
        )
    assert receiver.receive(body, body_signature(body, SECRET))[0] == 200
    assert receiver.receive(body, body_signature(body, "guess"))[0] == 401
    assert receiver.receive(body, None)[0] == 401
    broken = orjson.dumps({**status("400", 4), "Time": "mai"})
    status_code, answer = receiver.receive(broken, body_signature(broken, SECRET))
    assert status_code == 400 and "Time" in answer["Message"]
    garbage = b"{not json"
    assert receiver.receive(garbage, body_signature(garbage, SECRET))[0] == 400
    assert receiver.receive(body, body_signature(body, SECRET))[0] == 200, "a replay is acknowledged..."
    assert len(log.events) == 1, "...and not appended to the log again"
    later = orjson.dumps(status("400", 5))
    log.fail_next = 1
    assert receiver.receive(later, body_signature(later, SECRET))[0] == 503
    assert receiver.receive(later, body_signature(later, SECRET))[0] == 200, "what the log refused is taken later"
    assert [e.payload["status"] for e in log.events] == ["OUT_FOR_DELIVERY", "OUT_FOR_DELIVERY"]
    old = orjson.dumps({**status("400", 4), "Time": local_text(datetime.now(UTC) - timedelta(days=30))})
    status_code, answer = receiver.receive(old, body_signature(old, SECRET))
    assert status_code == 400 and "older than" in answer["Message"], "a month-old signed status is a replay"
    assert receiver.receive(body, body_signature(body, SECRET), content_type="text/plain")[0] == 415
    with engine.begin() as conn:
        order = {"order_key": "G01-1:DELIVERY", "dossier_code": "G01-1", "direction": "DELIVERY"}
        upsert(conn, vnpost_table, [{**order, "item_code": ITEM, "updated_at": AT}])
    other = orjson.dumps({**status("500", 9), "ItemCode": "EB999999999VN"})
    status_code, answer = receiver.receive(other, body_signature(other, SECRET))
    assert status_code == 404 and "is not the DELIVERY order" in answer["Message"], "an item the hub never ordered"
    pickup = orjson.dumps(status("200", 1, order_type="NHAN_HO_SO"))
    assert receiver.receive(pickup, body_signature(pickup, SECRET))[0] == 404, "no PICKUP order was placed"
    assert refusals(engine, "VNPOST") == {
        "bad_signature": 2,
        "malformed": 2,
        "stale": 1,
        "content_type": 1,
        "unknown_order": 3,
    }
    engine.dispose()


def hub_item(**extra: Any) -> dict[str, Any]:
    return {"dossier_code": "G01-1", "direction": "DELIVERY", "status_code": "500", "cod_amount_vnd": 0, **extra}


def vnpost_order(**extra: Any) -> dict[str, Any]:
    return {
        "ItemCode": ITEM,
        "OrderNumber": "G01-1",
        "OrderType": "TRA_KET_QUA",
        "StatusCode": "500",
        "CODAmount": 0,
        **extra,
    }


@pytest.mark.parametrize(
    ("hub", "vnpost", "rules"),
    [
        (hub_item(), vnpost_order(), []),
        (None, vnpost_order(), ["unknown_at_hub"]),
        (hub_item(), None, ["missing_at_vnpost"]),
        (hub_item(status_code="400"), vnpost_order(), ["status_mismatch"]),
        (hub_item(), vnpost_order(CODAmount=50_000), ["cod_mismatch"]),
        (hub_item(), vnpost_order(OrderType="NHAN_HO_SO"), ["order_mismatch"]),
    ],
)
def test_reconciliation_rules(hub: dict[str, Any] | None, vnpost: dict[str, Any] | None, rules: list[str]) -> None:
    assert [f.rule for f in compare_item(ITEM, hub, vnpost)] == rules


# -- the projection ----------------------------------------------------------------------------------

ORDER = new_event(
    EventType.POSTAL_ORDER_CREATED,
    dossier_code="G01-1",
    source_system="HUB",
    source_ref="G01-1:DELIVERY",
    occurred_at=AT,
    payload={"item_code": ITEM, "order_number": "G01-1", "direction": "DELIVERY", "cod_amount_vnd": 50_000},
)


def life(script: list[str]) -> list[Event]:
    return [ORDER] + [e for n, code in enumerate(script) for e in tracking_events(status(code, n + 1))]


def project(events: list[Event], batches: int) -> dict[str, Any]:
    (found,) = project_in_memory(PostalProjection(), events, batches)
    return found


SCRIPTS = [
    (["100", "200", "300", "400", "500"], None, 0),
    (["100", "200", "300", "400", "550", "400", "500"], None, 1),
    (["100", "200", "300", "400", "550"], "delivery_failed", 1),
    (["100", "200", "300", "400", "550", "600"], "returned_to_sender", 1),
]


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(SCRIPTS), st.randoms(use_true_random=False), st.integers(1, 4), st.integers(0, 3))
def test_the_item_row_is_the_same_in_any_order_and_flags_failed_deliveries(
    case: tuple[list[str], str | None, int], rng: random.Random, batches: int, dupes: int
) -> None:
    script, flag, failures = case
    events = life(script)
    shuffled = events + [rng.choice(events) for _ in range(dupes)]
    rng.shuffle(shuffled)
    found = project(shuffled, batches)
    assert found == project(events, 1)
    assert found["status_code"] == script[-1] and found["flag"] == flag and found["delivery_failures"] == failures
    assert found["direction"] == "DELIVERY" and found["cod_amount_vnd"] == 50_000
    assert found["final"] is (script[-1] in ("500", "600"))
