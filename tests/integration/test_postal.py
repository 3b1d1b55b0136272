"""VNPost orders and tracking over real sockets, the real broker and SQLite: pickup and delivery
orders created once though the policy is killed mid-call, tracking callbacks with duplicates, lost,
out-of-order, malformed and forged ones, tracking on the timeline, failed deliveries flagged, and
reconciliation against VNPost's order list."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.common.security_log import flush_refusals, refusals
from connectors.vnpost.codes import ORDER_TYPES
from connectors.vnpost.tracking import TrackingReceiver
from hub.api.callbacks import make_callback_app
from hub.bootstrap import make_engine, make_log
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.settings import Settings
from simulators.local.http import BackgroundServer
from simulators.province.read_back import Projector, fresh_topic, publish, read_log, read_store
from simulators.vnpost.simulator import VnpostFaults, VnpostSimulator
from tests.support.processes import hub_env, kill_repeatedly, run_to_end

FEE = 50_000


def postal_events(dossiers: int) -> tuple[list[Event], dict[tuple[str, str], int]]:
    """Dossiers submitted by post (every third with a fee still unpaid, every fifth without a result
    yet), and a few at the counter; with the orders (dossier, OrderType) -> COD they need."""
    start = datetime(2026, 5, 4, 1, tzinfo=UTC)
    events: list[Event] = []
    needed: dict[tuple[str, str], int] = {}

    def add(kind: EventType, code: str, n: int, minutes: int, payload: dict[str, object]) -> None:
        events.append(
            new_event(
                kind,
                dossier_code=code,
                source_system=SourceSystem.ONESTOP,
                source_ref=f"{code}/{kind.value}",
                occurred_at=start + timedelta(minutes=n + minutes),
                payload=payload,
                agency_code="G01",
                procedure_code="1.000001",
            )
        )

    for n in range(dossiers + 5):
        postal = n < dossiers
        code = f"G01-POST-{n:05d}"
        channel = "POSTAL" if postal else "DIRECT"
        add(
            EventType.DOSSIER_SUBMITTED,
            code,
            n,
            0,
            {"channel": channel, "online_level": "NOT_ONLINE", "applicant": {"kind": "CITIZEN"}},
        )
        if postal:
            needed[(code, ORDER_TYPES["PICKUP"])] = 0
        if n % 3 == 0:
            fee = {"code": "LP01", "name": "Lệ phí", "amount_vnd": FEE, "kind": "CHARGE", "collected": "AT_RESULT"}
            add(EventType.FEE_ASSESSED, code, n, 30, {"fees": [fee], "total_vnd": FEE})
        if n % 5 != 4:
            add(EventType.RESULT_ISSUED, code, n, 600, {"result_code": f"KQ{n:06d}"})
            if postal:
                needed[(code, ORDER_TYPES["DELIVERY"])] = FEE if n % 3 == 0 else 0
    return events, needed


@dataclass
class PostalHub:
    settings: Settings
    url: str
    vnpost: VnpostSimulator
    receiver: TrackingReceiver
    needed: dict[tuple[str, str], int]
    projector: Projector

    def env(self) -> dict[str, str]:
        s = self.settings
        return hub_env(
            s,
            database_url=s.database_url,
            vnpost_url=self.vnpost.url,
            vnpost_customer_code=self.vnpost.customer_code,
            vnpost_secret=self.vnpost.secret,
            vnpost_timeout_s="0.3",
            vnpost_track_after_s="0.5",
            policy_retry_base_s="0.05",
            policy_retry_max_s="0.2",
            policy_max_attempts="1000",
            policy_interval_s="0.2",
        )

    def quiet(self, max_s: float = 120) -> None:
        """Wait until VNPost's scripts ran out and the projections consumed everything pushed."""
        deadline = time.monotonic() + max_s
        while not self.vnpost.settled():
            assert time.monotonic() < deadline, "VNPost did not settle"
            time.sleep(0.2)
        seen = -1
        while seen != self.projector.records:
            seen = self.projector.records
            time.sleep(1.0)


@pytest.fixture
def postal_hub(kafka_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PostalHub]:
    dossiers, faults, database = request.param
    settings = fresh_topic(kafka_settings)
    events, needed = postal_events(dossiers)
    publish(settings, events)
    url = read_store(request, database, tmp_path)
    settings = settings.model_copy(update={"database_url": url})
    with Projector(settings, url) as projector, VnpostSimulator(faults, step_s=0.05) as vnpost:
        deadline = time.monotonic() + 60
        while projector.records < len(events):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        log = make_log(settings)
        engine = make_engine(settings)
        receiver = TrackingReceiver(engine, log, vnpost.secret)
        try:
            with BackgroundServer(make_callback_app(vnpost=receiver)) as callbacks:
                vnpost.callback_url = f"{callbacks.url}/callbacks/vnpost/tracking"
                yield PostalHub(settings, url, vnpost, receiver, needed, projector)
        finally:
            log.close()
            engine.dispose()


def rows(url: str, query: str) -> list[Any]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.text(query)))
    engine.dispose()
    return found


def faults_for_kills() -> VnpostFaults:
    faults = VnpostFaults.realistic()
    faults.timeout_rate, faults.timeout_s, faults.forged_rate, faults.malformed_rate = 0.3, 0.6, 0.05, 0.05
    return faults


@pytest.mark.parametrize("postal_hub", [(120, faults_for_kills(), "sqlite")], indirect=True)
def test_every_order_is_created_once_though_the_policy_is_killed_mid_call(postal_hub: PostalHub) -> None:
    hub = postal_hub
    env = hub.env()
    state = hub.vnpost.state

    killed = [0]

    def after_kill() -> int:
        # Every other kill VNPost restarts too and forgets the keys: a retry then meets Status 101. After
        # the others it remembers them, and the call the kill cut off is asked again under its key.
        # (Forgetting after every kill left only retries within one run to meet a key, and some CI
        # runs had none: the assertion below failed with no replayed key at all.)
        killed[0] += 1
        if killed[0] % 2:
            hub.vnpost.gate.forget_keys()
        return len(state.orders)

    kills = kill_repeatedly(
        ["policies", "run", "vnpost-orders"], env, times=6, between_s=(1.5, 3.0), seed=11, progress=after_kill
    )
    assert kills[-1] > 0, "orders were being created while the policy was killed"
    done = run_to_end(["policies", "run", "vnpost-orders", "--idle-exit", "3"], env, timeout_s=300)
    assert done.returncode == 0, done.stderr[-2000:]
    hub.quiet()
    # VNPost holds exactly the orders needed, once each, with the COD of the fee still unpaid.
    assert set(state.by_number) == set(hub.needed), "one order per dossier and direction, none for the counter"
    assert {key: state.orders[item].cod_amount for key, item in state.by_number.items()} == hub.needed
    assert state.counts.get("timeout", 0) > 0 and state.counts.get("replayed_keys", 0) > 0, (
        f"retries met the Idempotency-Key: {state.counts}"
    )
    assert max(state.creations.values()) > 1, "and some, after VNPost forgot the keys, met Status 101"
    # The log names each order's ItemCode; a repeat after a kill is the same event (same id).
    log = read_log(hub.settings)
    created = {e.event_id: e for e in log if e.event_type is EventType.POSTAL_ORDER_CREATED}
    assert len(created) == len(hub.needed)
    by_key = {(e.dossier_code, ORDER_TYPES[e.payload["direction"]]): e.payload["item_code"] for e in created.values()}
    assert by_key == state.by_number
    # Tracking is on the timeline, every status once, and the current status is VNPost's last.
    timeline = Counter(
        r[0] for r in rows(hub.url, "SELECT correlation_id FROM v_timeline WHERE event_type = 'PostalStatusChanged'")
    )
    items = {r.item_code: r for r in rows(hub.url, "SELECT * FROM v_postal")}
    assert set(items) == set(state.orders)
    for item, order in state.orders.items():
        assert timeline[item] == len(order.script), item
        assert items[item].status_code == order.script[-1], item
        failed_once = "550" in order.script
        assert items[item].delivery_failures == (1 if failed_once else 0)
        assert items[item].flag == ("returned_to_sender" if order.script[-1] == "600" else None)
    # Delivered results are returned by post.
    delivered = {
        o.order_number for o in state.orders.values() if o.order_type == "TRA_KET_QUA" and o.script[-1] == "500"
    }
    returned = {r[0] for r in rows(hub.url, "SELECT dossier_code FROM v_dossier WHERE return_channel = 'POSTAL'")}
    assert delivered and returned == delivered
    # Forged and malformed callbacks were refused, each one, and nothing else was.
    sent = Counter(kind for kind, _, _ in state.callbacks)
    engine = make_engine(hub.settings)
    flush_refusals()  # counts held back past five a minute are written when the endpoint stops
    assert refusals(engine, "VNPOST") == {"bad_signature": sent["forged"], "malformed": sent["malformed"]}
    engine.dispose()
    assert sent["forged"] > 0 and sent["malformed"] > 0 and state.counts["callbacks_lost"] > 0
    print(  # the figures behind the closing note (pytest -s)
        f"orders {len(state.orders)} creations {sum(state.creations.values())} kills {len(kills)} callbacks {sent} "
        f"receiver {dict(hub.receiver.counters)} vnpost {state.counts}"
    )


@pytest.mark.parametrize(
    "postal_hub",
    [
        (30, VnpostFaults(delivery_failure_rate=0.3), "sqlite"),
        (30, VnpostFaults(delivery_failure_rate=0.3), "postgresql"),
    ],
    indirect=True,
)
def test_failed_deliveries_are_flagged_and_reconciliation_finds_each_injected_discrepancy(
    postal_hub: PostalHub,
) -> None:
    hub = postal_hub
    env = hub.env()
    done = run_to_end(["policies", "run", "vnpost-orders", "--idle-exit", "3"], env, timeout_s=300)
    assert done.returncode == 0, done.stderr[-2000:]
    hub.quiet()
    items = {r.item_code: r for r in rows(hub.url, "SELECT * FROM v_postal")}
    returned_to_sender = {i for i, o in hub.vnpost.state.orders.items() if o.script[-1] == "600"}
    assert returned_to_sender and {i for i, r in items.items() if r.flag} == returned_to_sender
    flagged = {
        r[0]
        for r in rows(hub.url, "SELECT dossier_code FROM v_dossier WHERE gap_flags LIKE '%postal_delivery_failed%'")
    }
    assert flagged == {hub.vnpost.state.orders[i].order_number for i in returned_to_sender}
    status = run_to_end(["policies", "status"], env)
    assert status.returncode == 0 and f"{len(returned_to_sender)} returned_to_sender" in status.stdout, status.stdout
    vnpost = hub.vnpost
    ordered = sorted(vnpost.state.orders)
    vnpost.change_cod(ordered[0], 99_000)
    vnpost.silent_status(ordered[1], "700")
    vnpost.lose(ordered[2])
    orphan = vnpost.orphan("G01-POST-99999", "TRA_KET_QUA")
    expected = {
        (ordered[0], "cod_mismatch"),
        (ordered[1], "status_mismatch"),
        (ordered[2], "missing_at_vnpost"),
        (orphan, "unknown_at_hub"),
    }
    done = run_to_end(["reconcile", "postal", "--json"], env)
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [line.split() for line in done.stdout.splitlines() if not line.startswith("{")]
    assert {(words[2], words[0]) for words in lines} == expected
