"""``hub demo --tour``: a scripted walk through every part of the hub on loopback, printing what happens.

The embedded broker and the dossier log; the one-stop (SOAP) and national portal (REST) simulators,
with faults, drained by their connectors; sample dossiers and two malformed messages; the projection
runner building the read models in SQLite; the national status mirror and its divergence check;
PayGov and VNPost with their policies, callback endpoint and reconciliations, and the digitised
results synced to the national data store with a drift there repaired (``gateways``); the dead-letter
topic and the monitors' streams (``monitoring``).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import SecretStr

from connectors.dvcqg.mirror.reconcile import reconcile
from hub.bootstrap import (
    build_upstream,
    make_codec,
    make_connector_runner,
    make_engine,
    make_projection_runner,
    national_mirror,
)
from hub.cli.demo.gateways import run_gateways, run_results
from hub.cli.demo.monitoring import run_monitors
from hub.cli.demo.workdir import claim_workdir
from hub.log.kafka_log import KafkaEventLog, ensure_topics, hub_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.ports import Record, Upstream
from hub.settings import Settings
from hub.store.projection_store import activate_first_generation
from projections.registry import PROJECTIONS
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import PortalWorld, build_portal_world
from simulators.local.tansu import EmbeddedBroker
from simulators.onestop.simulator import Faults, OnestopSimulator
from simulators.onestop.world import build_world
from simulators.sample_dossiers import sample_dossiers

if TYPE_CHECKING:
    from simulators.onestop.simulator import OnestopSimulator

__all__ = ["run_demo"]


def _read_all(source: KafkaRecordSource, expected: int, timeout_s: float = 30.0) -> list[Record]:
    """Everything up to ``expected`` records (counted, not taken from end offsets, which the embedded
    broker under-reports)."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        records.extend(source.poll(timeout_s=0.5))
    return records


def _show_read_models(engine: sa.Engine, echo: Callable[[str], None]) -> None:
    with engine.connect() as conn:
        dossiers = conn.exec_driver_sql(
            "SELECT dossier_code, channel, national_status, outcome, substr(datetime(due_at, '+7 hours'), 1, 16), "
            "fee_status, gap_flags, event_count "
            "FROM v_dossier ORDER BY event_count DESC, dossier_code LIMIT 5"
        ).all()
        total = conn.exec_driver_sql("SELECT count(*), sum(event_count) FROM v_dossier").one()
        echo(f"\nv_dossier: {total[0]} dossiers, {total[1]} events; the five with the longest timelines:")
        for code, channel, status, outcome, due, fees, gaps, count in dossiers:
            echo(
                f"\n{code}  {channel}  status {status}  {outcome}  due {due}  fees {fees}  "
                f"{count} events{'  gaps: ' + gaps if gaps else ''}"
            )
            timeline = conn.exec_driver_sql(
                "SELECT occurred_at_local, source_system, summary_vi, actor FROM v_timeline "
                "WHERE dossier_code = ? ORDER BY occurred_at, type_rank, event_id",
                (code,),
            ).all()
            for at, system, summary, actor in timeline:
                echo(f"  {str(at)[:16]}  {system:<7} {summary}{'  (' + actor + ')' if actor else ''}")


def _drain(upstream: Upstream, settings: Settings, log: KafkaEventLog) -> dict[str, int]:
    runner = make_connector_runner(upstream, settings, log)
    return runner.run(idle_exit_s=0).counters


def _run_connectors(
    settings: Settings, log: KafkaEventLog, echo: Callable[[str], None], stack: contextlib.ExitStack
) -> tuple[int, int, OnestopSimulator]:
    """The one-stop (SOAP) and national portal (REST) simulators, with their usual faults, drained by
    their connectors; returns the events they published, the records they parked, and the one-stop
    simulator, kept running (by ``stack``) to serve its digitised results' files."""

    world = build_world(60, seed=7)
    faults = Faults.realistic()
    faults.timeout_rate = 0.0  # keep the demo quick; the tests exercise timeouts
    portal_faults = PortalFaults.realistic()
    portal_faults.timeout_rate = 0.0
    produced = parked = 0
    sim = stack.enter_context(OnestopSimulator(world, faults))
    with PortalSimulator(build_portal_world(world), portal_faults) as portal:
        local = settings.model_copy(
            update={
                "connector_retry_max_s": 0.5,
                "onestop_url": sim.url,
                **portal.hub_settings(),
            }
        )
        for name, where, upstream in (
            ("one-stop", sim.wsdl_url, build_upstream("onestop", local)),
            ("DVCQG", portal.url, build_upstream("dvcqg", local)),
        ):
            c = _drain(upstream, local, log)
            produced += c["events_produced"]
            parked += c["parked"]
            echo(
                f"{name} simulator {where}: connector read {c['records_read']} records, published "
                f"{c['events_produced']} events, parked {c['parked']} malformed, retried {c['retries']} failed "
                f"calls, skipped {c['duplicates_skipped']} duplicates"
            )
    return produced, parked, sim


def _mirror(
    settings: Settings, log: KafkaEventLog, project: Callable[[int], None], echo: Callable[[str], None]
) -> None:
    """The national status mirror against a portal simulator that corrupts statuses 5/6/8 into 9, as one
    province's was found doing; the divergence check finds them, and repairs once the portal behaves."""

    with PortalSimulator(PortalWorld(), PortalFaults(partial_batch_rate=0.05, corrupt_statuses=True)) as portal:
        local = settings.model_copy(
            update={
                **portal.hub_settings(),
                "dvcqg_mirror_retry_base_s": 0.1,
                "dvcqg_mirror_retry_max_s": 0.5,
            }
        )
        mirror = national_mirror(local, log)
        try:
            mirror.run(idle_exit_s=1.5, interval_s=0.3)
            project(mirror.counters["synced"] + mirror.counters["failed_attempts"])
            echo(
                f"\nnational portal mirror {portal.url}: {mirror.counters['synced']} dossiers mirrored "
                f"(insert/update + steps in batches of <= 10), {mirror.counters['partial_batches']} partly failed "
                f"batches re-sent, {mirror.counters['failed_attempts']} failed attempts retried"
            )
            portal.faults.corrupt_statuses = False
            report = reconcile(mirror)
            project(2 * report.divergent)
            echo(f"divergence check (hub reconcile dvcqg): {report.summary()}")
            for line in report.lines[:6]:
                echo(f"  {line}")
        finally:
            mirror.close()


def run_demo(settings: Settings, *, embedded: bool, echo: Callable[[str], None], data: Path) -> None:
    # The read models stay there for a look afterwards; the next tour starts afresh.
    workdir = claim_workdir(data, fresh=False)
    broker = EmbeddedBroker().start() if embedded else None
    for old in workdir.glob("tour.sqlite3*"):
        old.unlink()
    stack = contextlib.ExitStack()  # simulators that live as long as the demo
    try:
        if broker is not None:
            settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "topic_partitions": 3})
            echo(f"embedded Kafka-protocol broker (Tansu, memory) on {broker.bootstrap}")
        if settings.identity_key is None and settings.identity_key_file is None:
            settings = settings.model_copy(update={"identity_key": SecretStr(secrets.token_hex(16))})
            echo("no HUB_IDENTITY_KEY set: using a throwaway key for this run")
        settings = settings.model_copy(update={"database_url": f"sqlite:///{workdir / 'tour.sqlite3'}"})
        for name, outcome in ensure_topics(settings, hub_topics(settings)).items():
            echo(f"topic {name}: {outcome}")

        codec = make_codec(settings)
        log = KafkaEventLog(settings, codec)
        events = sample_dossiers(settings.identity_key_bytes())
        log.append(events)
        echo(
            f"published {len(events)} events ({codec.wire_format.value} Avro) for "
            f"{len({e.dossier_code for e in events})} dossiers"
        )
        from_connectors, parked_upstream, onestop = _run_connectors(settings, log, echo, stack)
        bad = [b"{'MaHoSo': 'not avro'}", codec.encode(events[0])[:-7]]
        for value in bad:  # a misbehaving producer: the hub must park these, not crash or drop them
            log.send_raw(settings.dossier_topic, b"000.00.20.H56-260609-0009", value, [])
        echo(f"published {len(bad)} malformed messages as a misbehaving producer would")

        engine = make_engine(settings)
        for projection in PROJECTIONS.values():
            activate_first_generation(engine, projection)
        runner = make_projection_runner(settings, log, engine, list(PROJECTIONS.values()), name="hub-demo")

        def project(expected: int) -> None:
            source = KafkaRecordSource(settings, [settings.dossier_topic])
            runner.seek(source, sorted(source.assignment()))
            deadline, goal = time.monotonic() + 30, runner.totals.records + expected
            try:
                runner.run(
                    source,
                    commit_to_kafka=False,
                    should_stop=lambda: runner.totals.records >= goal or time.monotonic() > deadline,
                )
            finally:
                source.close()

        project(len(events) + len(bad) + from_connectors)
        _mirror(settings, log, project, echo)

        following = KafkaRecordSource(settings, [settings.dossier_topic])  # one consumer for every catch-up
        runner.seek(following, sorted(following.assignment()))
        try:
            catch_up = lambda: runner.run(following, commit_to_kafka=False, idle_exit_s=0.3)  # noqa: E731
            run_gateways(settings, log, catch_up, echo)
            run_results(settings, log, catch_up, echo, onestop)
        finally:
            following.close()
        totals = runner.totals
        echo(f"projected into {settings.database_url}: {totals.applied} events applied, {totals.parked} parked")
        _show_read_models(engine, echo)
        with engine.connect() as conn:
            dossiers = int(conn.exec_driver_sql("SELECT count(*) FROM v_dossier").scalar_one())
        engine.dispose()

        parked = KafkaRecordSource(settings, [settings.dead_letter_topic])
        try:
            dlq = _read_all(parked, len(bad) + parked_upstream, timeout_s=10)
        finally:
            parked.close()
        echo(f"\ndead-letter topic {settings.dead_letter_topic}: {len(dlq)} parked")
        for record in dlq:
            reason, topic, offset = (
                (record.header(h) or b"").decode() for h in ("dlq.reason", "dlq.topic", "dlq.offset")
            )
            echo(f"  {reason}  (from {topic}@{offset})")
        run_monitors(settings, dossiers, echo)
        log.close()
        echo(f"\ndemo done: {totals.applied} events projected, {totals.parked} parked; read models in {workdir}")
    finally:
        stack.close()
        if broker is not None:
            broker.stop()
