"""The demo's policies toward other systems: PayGov and VNPost with their usual faults (forged and
duplicate callbacks included), the callback endpoint, both policies and reconciliations; and the
digitised results synced to the national data store, with corrupted uploads and drift."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from connectors.common.security_log import refusals
from connectors.dvcqg.results.reconcile import reconcile_results
from connectors.paygov.book import PaymentBook
from connectors.paygov.reconcile import reconcile_payments
from connectors.vnpost.reconcile import reconcile_postal
from hub.api.callbacks import build_callback_app
from hub.bootstrap import POLICIES, make_engine, onestop_upstream, paygov_client, results_sync, vnpost_client
from hub.log.kafka_log import KafkaEventLog
from hub.settings import Settings
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import PortalWorld
from simulators.local.http import BackgroundServer
from simulators.paygov.simulator import PayGovFaults, PayGovSimulator
from simulators.vnpost.simulator import VnpostFaults, VnpostSimulator

if TYPE_CHECKING:
    from simulators.onestop.simulator import OnestopSimulator

__all__ = ["run_gateways", "run_results"]


def run_gateways(
    settings: Settings, log: KafkaEventLog, catch_up: Callable[[], object], echo: Callable[[str], None]
) -> None:

    pay_faults, post_faults = PayGovFaults.realistic(), VnpostFaults.realistic()
    pay_faults.timeout_rate = post_faults.timeout_rate = 0.0  # keep the demo quick; the tests exercise timeouts
    with PayGovSimulator(pay_faults, pay_delay_s=0.5) as pay, VnpostSimulator(post_faults, step_s=0.1) as post:
        local = settings.model_copy(
            update={
                "paygov_url": pay.url,
                "paygov_merchant_code": pay.merchant_code,
                "paygov_secret": SecretStr(pay.secret),
                "paygov_requery_after_s": 2.0,  # the demo compresses PayGov's 30 minutes
                "paygov_requery_every_s": 1.0,
                "vnpost_url": post.url,
                "vnpost_customer_code": post.customer_code,
                "vnpost_secret": SecretStr(post.secret),
                "vnpost_track_after_s": 1.0,
                "policy_retry_base_s": 0.1,
                "policy_retry_max_s": 0.5,
            }
        )
        engine = make_engine(local)
        with BackgroundServer(build_callback_app(local, log)) as callbacks:
            pay.callback_url = f"{callbacks.url}/callbacks/paygov/ipn"
            post.callback_url = f"{callbacks.url}/callbacks/vnpost/tracking"
            echo(f"\ncallback endpoint {callbacks.url} (PayGov IPN, VNPost tracking)")
            policies = [POLICIES[name].build(local, log) for name in ("paygov-payments", "vnpost-orders")]
            deadline = time.monotonic() + 30
            try:
                quiet = 0
                while quiet < 4 and time.monotonic() < deadline:
                    done = sum(p.tick() for p in policies)
                    busy = pay.clock.pending() + post.clock.pending()
                    catch_up()
                    quiet = 0 if done or busy else quiet + 1
                    time.sleep(0.3)
            finally:
                for p in policies:
                    p.close()
            pays, posts = policies[0].counters, policies[1].counters
            state = pay.state
            forged = sum(1 for kind, *_ in state.ipn_answers if kind == "forged")
            echo(
                f"PayGov simulator {pay.url}: {pays['initiated']} payments started (INIT), "
                f"{sum(1 for t in state.transactions.values() if t.status == 1)} paid, "
                f"{sum(1 for t in state.transactions.values() if t.status == 4)} failed; "
                f"{pays['query_recorded']} outcomes found by QUERY after a lost IPN; "
                f"{forged} forged callbacks, refused: {refusals(engine, 'PAYGOV')}"
            )
            echo(
                f"VNPost simulator {post.url}: {posts['ordered']} orders (pickup, delivery), "
                f"{sum(len(o.events) for o in post.state.orders.values())} tracking statuses, "
                f"{posts['polled']} items polled; refused callbacks: {refusals(engine, 'VNPOST')}"
            )
            pay_client, post_client = paygov_client(local), vnpost_client(local)
            try:
                payments = reconcile_payments(PaymentBook(engine, log), pay_client, in_flight_s=2.0)
                postal = reconcile_postal(engine, post_client)
            finally:
                pay_client.close()
                post_client.close()
            echo(f"reconciliation (hub reconcile payments|postal): {payments.summary()} {postal.summary()}")
            for finding in payments.findings + postal.findings:  # the sample dossiers' own orders and payments
                echo(f"  {finding.line()}")
        engine.dispose()


def run_results(
    settings: Settings,
    log: KafkaEventLog,
    catch_up: Callable[[], object],
    echo: Callable[[str], None],
    onestop: OnestopSimulator,
) -> None:
    """The one-stop's digitised results streamed to a national store that corrupts 10% of uploads; then
    an edit made there silently, found by reconciliation and repaired."""

    with PortalSimulator(PortalWorld(), PortalFaults(corrupt_upload_rate=0.1, http500_rate=0.05)) as portal:
        local = settings.model_copy(
            update={
                "onestop_url": onestop.url,
                **portal.hub_settings(),
                "policy_retry_base_s": 0.1,
                "policy_retry_max_s": 0.5,
            }
        )
        sync = results_sync(local, log)

        def settle() -> None:
            deadline, quiet = time.monotonic() + 30, 0
            while quiet < 3 and time.monotonic() < deadline:
                catch_up()
                quiet = 0 if sync.tick() else quiet + 1
                time.sleep(0.2)
            catch_up()

        try:
            settle()
            store = portal.store
            echo(
                f"\nnational data store {portal.url}: {sync.counters['synced']} digitised results synced "
                f"(files streamed and hash-checked), {sync.counters['corrupted_uploads']} corrupted uploads "
                f"caught and re-sent, {sync.counters['failed_attempts']} failed attempts retried"
            )
            if store.results:
                store.drift(sorted(store.results)[0], "SoKyHieu", "sửa tay trên kho")  # someone edits it there
            source = onestop_upstream(local)
            report, events = reconcile_results(sync, source)
            log.append(events)
            before = sync.counters["synced"]
            settle()
            echo(
                f"results reconciliation (hub reconcile results): {report.summary()}; "
                f"{sync.counters['synced'] - before} repaired by the sync"
            )
            for finding in report.findings:
                echo(f"  {finding.line()}")
        finally:
            sync.close()
