"""PayGov payments over real sockets, the real broker and SQLite: INIT per fee, signed IPNs with
duplicates, late, out-of-order and forged callbacks, lost IPNs resolved by re-query, and
reconciliation against the gateway's settlement statement."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from connectors.common.security_log import flush_refusals, refusals
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.paygov.policy import PaymentPolicy
from hub.api.callbacks import make_callback_app
from hub.bootstrap import POLICIES, make_engine, make_log
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.settings import Settings
from projections.payments import payment_ref
from simulators.local.http import BackgroundServer
from simulators.paygov.simulator import FAILED, SUCCESS, PayGovFaults, PayGovSimulator
from simulators.province.read_back import Projector, fresh_topic, publish, read_log, read_store
from tests.support.processes import hub_env, run_to_end

AMOUNTS = [50_000, 100_000, 150_000, 500_000, 1_000_000]


def fee_events(dossiers: int) -> list[Event]:
    """One fee assessment per dossier (the payments projection needs nothing else)."""
    start = datetime(2026, 5, 4, 1, tzinfo=UTC)
    out = []
    for i in range(dossiers):
        amount = AMOUNTS[i % len(AMOUNTS)]
        fee = {"code": "LP01", "name": "Lệ phí", "amount_vnd": amount, "kind": "CHARGE", "collected": "AT_ACCEPTANCE"}
        out.append(
            new_event(
                EventType.FEE_ASSESSED,
                dossier_code=f"G01-PAY-{i:05d}",
                source_system=SourceSystem.ONESTOP,
                source_ref=f"fee-{i}",
                occurred_at=start + timedelta(minutes=i),
                payload={"fees": [fee], "total_vnd": amount},
                agency_code="G01",
                procedure_code="1.000001",
            )
        )
    return out


@dataclass
class PaymentHub:
    settings: Settings
    url: str
    policy: PaymentPolicy
    receiver: IpnReceiver
    gateway: PayGovSimulator
    refs: dict[str, int]  # reference -> amount asked

    def settled(self) -> bool:
        """Every transaction's outcome is at the gateway and in the hub's book, and nothing is in flight."""
        engine = make_engine(self.settings)
        with engine.connect() as conn:
            outcomes: dict[str, str | None] = dict(
                conn.execute(sa.text("SELECT payment_ref, outcome FROM hub_paygov")).all()
            )
        engine.dispose()
        ts = self.gateway.state.transactions
        return (
            len(ts) == len(self.refs)
            and all(t.status != 3 for t in ts.values())
            and all(outcomes.get(ref) for ref in self.refs)
            and self.gateway.clock.pending() == 0
        )

    def run(self, max_s: float = 240) -> None:
        deadline = time.monotonic() + max_s
        while not self.settled():
            assert time.monotonic() < deadline, "payments did not settle in time"
            if not self.policy.tick():
                time.sleep(0.2)


@pytest.fixture
def payment_hub(kafka_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PaymentHub]:
    dossiers, faults, database = request.param
    settings = fresh_topic(kafka_settings)
    events = fee_events(dossiers)
    publish(settings, events)
    url = read_store(request, database, tmp_path)
    with Projector(settings, url) as projector:
        deadline = time.monotonic() + 60
        while projector.records < len(events):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with PayGovSimulator(faults, pay_delay_s=0.3) as gateway:
            settings = settings.model_copy(
                update={
                    "database_url": url,
                    "paygov_url": gateway.url,
                    "paygov_merchant_code": gateway.merchant_code,
                    "paygov_secret": SecretStr(gateway.secret),
                    "paygov_timeout_s": 0.5,
                    "paygov_requery_after_s": 1.0,
                    "paygov_requery_every_s": 0.3,
                    "policy_retry_base_s": 0.05,
                    "policy_retry_max_s": 0.2,
                    "policy_max_attempts": 100,
                }
            )
            log = make_log(settings)
            engine = make_engine(settings)
            receiver = IpnReceiver(PaymentBook(engine, log), gateway.secret)
            with BackgroundServer(make_callback_app(paygov=receiver)) as callbacks:
                gateway.callback_url = f"{callbacks.url}/callbacks/paygov/ipn"
                policy = POLICIES["paygov-payments"].build(settings, log)
                assert isinstance(policy, PaymentPolicy)
                refs = {payment_ref(str(e.event_id)): int(e.payload["total_vnd"]) for e in events}
                try:
                    yield PaymentHub(settings, url, policy, receiver, gateway, refs)
                finally:
                    policy.close()
                    log.close()
                    engine.dispose()


def faults_for_acceptance() -> PayGovFaults:
    faults = PayGovFaults.realistic()
    faults.forged_rate, faults.slow_payer_rate, faults.timeout_s = 0.2, 0.05, 0.8
    return faults


@pytest.mark.parametrize("payment_hub", [(1000, faults_for_acceptance(), "sqlite")], indirect=True)
def test_1000_fees_are_paid_and_recorded_exactly_once_despite_callback_faults(payment_hub: PaymentHub) -> None:
    hub = payment_hub
    hub.run()
    time.sleep(1.0)  # the projections catch up with the last outcomes
    gateway = hub.gateway.state
    # One transaction per fee at the gateway, for the amount assessed, however often INIT was retried.
    assert {ref: t.amount for ref, t in gateway.transactions.items()} == hub.refs
    assert sum(gateway.inits.values()) >= len(hub.refs)
    # Exactly one outcome event per reference on the log: the gateway's final status.
    log = read_log(hub.settings)
    confirmed = Counter(e.payload["payment_ref"] for e in log if e.event_type is EventType.PAYMENT_CONFIRMED)
    requested = Counter(e.payload["payment_ref"] for e in log if e.event_type is EventType.PAYMENT_REQUESTED)
    paid = {ref for ref, t in gateway.transactions.items() if t.status == SUCCESS}
    failed = {ref for ref, t in gateway.transactions.items() if t.status == FAILED}
    assert paid and failed and paid | failed == set(hub.refs)
    assert set(confirmed) == paid and set(confirmed.values()) == {1}, "every payment confirmed exactly once"
    assert set(requested) == set(hub.refs) and set(requested.values()) == {1}
    failures = Counter(e.payload["payment_ref"] for e in log if e.event_type is EventType.PAYMENT_FAILED)
    assert failed <= set(failures) and set(failures.values()) == {1}
    # The read model agrees: paid for the amount asked, or failed.
    engine = make_engine(hub.settings)
    with engine.connect() as conn:
        rows = {r.payment_ref: r for r in conn.execute(sa.text("SELECT * FROM v_payments"))}
    assert {ref for ref, r in rows.items() if r.state == "paid"} == paid
    assert {ref for ref, r in rows.items() if r.state == "failed"} == failed
    assert all(rows[ref].paid_amount_vnd == hub.refs[ref] for ref in paid)
    # Forged callbacks: every one refused, none a payment; genuine ones all acknowledged.
    answers = gateway.ipn_answers
    forged = [a for a in answers if a[0] == "forged"]
    assert len(forged) > 20 and all(status in (401, 404, 409) and code != "00" for _, _, status, code in forged)
    flush_refusals()  # counts held back past five a minute are written when the endpoint stops
    assert sum(refusals(engine).values()) == len(forged)
    assert {kind for kind in refusals(engine)} == {"bad_signature", "amount_mismatch"}
    assert all(code == "00" for kind, _, _, code in answers if kind in ("genuine", "duplicate", "stale"))
    engine.dispose()
    # The faults happened: duplicates and stale failures were answered without a second event, and the
    # payments whose IPN never came were found by QUERY.
    assert hub.receiver.counters["duplicate"] > 0 and hub.receiver.counters["stale"] > 0
    assert gateway.counts["ipn_lost"] > 0 and hub.policy.counters["query_recorded"] >= gateway.counts["ipn_lost"]
    assert gateway.counts["timeout"] > 0 and gateway.counts["http500"] > 0
    print(  # the figures behind the closing note (pytest -s)
        f"paid {len(paid)} failed {len(failed)} inits {sum(gateway.inits.values())} "
        f"ipn {Counter(a[0] for a in answers)} "
        f"receiver {dict(hub.receiver.counters)} policy {dict(hub.policy.counters)} gateway {gateway.counts}"
    )


@pytest.mark.parametrize(
    "payment_hub", [(60, PayGovFaults(), "sqlite"), (60, PayGovFaults(), "postgresql")], indirect=True
)
def test_reconciliation_finds_each_injected_discrepancy_and_no_other(payment_hub: PaymentHub) -> None:
    hub = payment_hub
    hub.run()
    time.sleep(1.0)
    gateway = hub.gateway
    paid = sorted(ref for ref, t in gateway.state.transactions.items() if t.status == SUCCESS)
    failed = sorted(ref for ref, t in gateway.state.transactions.items() if t.status == FAILED)
    assert len(paid) >= 3 and failed
    gateway.change_amount(paid[0], hub.refs[paid[0]] + 5_000)
    gateway.reverse(paid[1])
    gateway.lose(paid[2])
    gateway.mark_paid(failed[0])
    gateway.orphan("MCFFFFFFFFFFFFFFFFFF", 70_000, "G01-PAY-99999")
    expected = {
        (paid[0], "amount_mismatch"),
        (paid[1], "paid_in_hub_only"),
        (paid[2], "missing_at_gateway"),
        (failed[0], "unconfirmed_payment"),
        ("MCFFFFFFFFFFFFFFFFFF", "unknown_at_hub"),
    }
    s = hub.settings
    env = hub_env(
        s,
        database_url=s.database_url,
        paygov_url=s.paygov_url,
        paygov_merchant_code=s.paygov_merchant_code,
        paygov_secret=gateway.secret,
        paygov_requery_after_s="1",
    )
    done = run_to_end(["reconcile", "payments", "--json"], env)
    assert done.returncode == 1, done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if not line.startswith("{")]
    assert {(words[2], words[0]) for words in lines} == expected
    time.sleep(1.0)
    engine = make_engine(hub.settings)
    with engine.connect() as conn:
        divergences = conn.execute(
            sa.text(
                "SELECT count(*) FROM v_timeline WHERE event_type = 'DivergenceDetected' AND source_system = 'PAYGOV'"
            )
        ).scalar_one()
    engine.dispose()
    assert divergences == len(expected), "each finding is on the dossier's timeline"


@pytest.mark.parametrize("payment_hub", [(40, PayGovFaults(), "sqlite")], indirect=True)
def test_a_read_store_rebuilt_from_the_log_starts_no_payment_again(payment_hub: PaymentHub, tmp_path: Path) -> None:
    hub = payment_hub
    hub.run()
    time.sleep(1.0)
    inits = sum(hub.gateway.state.inits.values())
    fresh = f"sqlite:///{tmp_path}/restored.sqlite3"
    settings = hub.settings.model_copy(update={"database_url": fresh})
    log = make_log(settings)
    policy = POLICIES["paygov-payments"].build(settings, log)
    try:
        assert policy.tick() == 0 and policy.counters["held_ticks"] == 1, "read models not built yet: nothing is sent"
        with Projector(settings, fresh) as projector:
            deadline = time.monotonic() + 60
            while projector.records < len(read_log(hub.settings, quiet_s=0.5)):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert policy.tick() == 0 and policy.counters["held_ticks"] == 1, "caught up: nothing is left to send"
    finally:
        policy.close()
        log.close()
    assert sum(hub.gateway.state.inits.values()) == inits
