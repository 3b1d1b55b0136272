"""`hub monitor run` (a faust worker) against a real broker: SLA conditions raised once at the right
business time with a compressed clock and cleared on resolution, connector health, refused callbacks;
`hub monitor tail` and a confluent-kafka consumer decode every monitoring topic from schemas/."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.bootstrap import make_engine, make_log_end
from hub.domain.events import EventType
from hub.errors import UpstreamError
from hub.log.kafka_source import KafkaRecordSource, follow
from hub.log.schemas import default_schemas_root
from hub.monitoring.records import TOPICS, MonitoringCodec
from hub.settings import Settings
from hub.store.sql_store import connector_state_table, dumps, security_events_table, upsert
from simulators.province.read_back import fresh_topic, publish, read_store
from tests.support.dossier_events import T0, VN, at, event, issued, received, supplement
from tests.support.processes import HUB, hub_env, run_to_end

SPEED = 3600.0  # one business hour per real second: the day ends 10 s after start
SCAN_S = 0.25
RAW_CCCD = "079203004512"  # shaped like a citizen identity number: must never reach a monitoring topic


class Monitoring:
    """A `hub monitor run` child on this test's topics and store, and a reader of what it publishes."""

    def __init__(self, settings: Settings, url: str, data_dir: Path, **extra: str) -> None:
        self.prefix = f"test.monitoring.{uuid.uuid4().hex[:8]}."
        self.settings = settings.model_copy(update={"monitor_topic_prefix": self.prefix, "database_url": url})
        self.app_id = f"test-monitor-{uuid.uuid4().hex[:8]}"
        self.data_dir = data_dir
        self.env = hub_env(
            settings,
            database_url=url,
            monitor_app_id=self.app_id,
            monitor_data_dir=str(data_dir),
            monitor_topic_prefix=self.prefix,
            monitor_topic_partitions="2",
            kafka_session_timeout_ms="6000",
            **extra,
        )
        self.codec = MonitoringCodec()
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.child: subprocess.Popen[str] | None = None

    def start(self) -> None:
        args = [HUB, "--log-level", os.environ.get("TEST_MONITOR_LOG", "WARNING"), "monitor", "run"]
        self.child = subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def read(self) -> None:
        """Everything published so far, read afresh: a consumer assigned to the test broker's partitions
        before their first record never saw later ones (Tansu), so each read starts a new one."""
        try:
            source = KafkaRecordSource(self.settings, [self.prefix + k for k in TOPICS])
        except UpstreamError:  # the child has not created the topics yet
            time.sleep(0.2)
            return
        seen = []
        deadline = time.monotonic() + 10  # a running monitor never falls quiet (health samples): wait() reads again
        try:  # until 1 s without a record: one empty poll can come while a fetch is still on its way
            for r in follow(source, idle_exit_s=1.0):
                seen.append((r.topic.removeprefix(self.prefix), self.codec.decode(r.value)[1]))
                if time.monotonic() > deadline:
                    break
        finally:
            source.close()
        self.seen = seen

    def wait(self, done: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert self.child is None or self.child.poll() is None, f"monitor died: {self.stop()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}; seen {self.sla()}"
            self.read()

    def sla(self) -> list[tuple[str, str, str, str]]:
        return [(r["dossier_code"], r["condition"], r["state"], r["reason"]) for k, r in self.seen if k == "sla"]

    def stop(self) -> str:
        assert self.child is not None
        if self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)
        out, err = self.child.communicate(timeout=60)
        self.read()
        return out + err


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sla_conditions_fire_once_at_the_right_time_and_clear_on_resolution(
    kafka_settings: Settings, tmp_path: Any, request: pytest.FixtureRequest, database: str
) -> None:
    settings = fresh_topic(kafka_settings)
    url = read_store(request, database, tmp_path)
    tonight, tomorrow, resolved, apology, second, done = (f"H34-SLA-{n}" for n in range(6))
    events = [
        *received(tonight, at(1, 9), at(2, 17)),  # due today: DUE_SOON now, PAST_DUE at midnight (10 s)
        *received(tomorrow, at(2, 9), at(3, 22)),  # DUE_SOON at 22:00 today (T0 + 8 h: 8 s)
        *received(resolved, at(1, 9), at(2, 18)),  # DUE_SOON now; its result comes during the run
        *received(apology, at(1, 8) - timedelta(days=10), at(1, 17) - timedelta(days=2)),  # long past due
        *received(second, at(1, 8), at(12, 17)),
        *supplement(second, 1, at(1, 10), at(1, 15)),
        *supplement(second, 2, at(2, 9), None),  # a second request: SECOND_SUPPLEMENT, time suspended
        *received(done, at(1, 8), at(2, 8)),
        issued(done, at(1, 16)),  # finished before it could be late: nothing to say
    ]
    shuffled = events * 2  # every event delivered twice, in no particular order
    random.Random(7).shuffle(shuffled)
    publish(settings, shuffled)

    mon = Monitoring(
        settings,
        url,
        tmp_path / "monitor",
        clock_speed=str(SPEED),
        clock_start=T0.isoformat(),
        monitor_scan_interval_s=str(SCAN_S),
        monitor_health_interval_s="1",
    )
    mon.start()
    try:
        first = {
            (tonight, "DUE_SOON"),
            (resolved, "DUE_SOON"),
            (apology, "PAST_DUE"),
            (apology, "OVERDUE_WITHOUT_APOLOGY"),
            (second, "SECOND_SUPPLEMENT"),
        }
        mon.wait(lambda: first <= {(d, c) for d, c, s, _ in mon.sla() if s == "RAISED"}, "the first conditions")
        old_due = at(1, 17) - timedelta(days=2)
        publish(
            settings,
            [
                issued(resolved, T0 + timedelta(hours=1)),
                event(
                    EventType.DUE_DATE_EXTENDED,
                    apology,
                    T0,
                    {"previous_due_at": old_due, "new_due_at": at(9, 17), "reason": "thư xin lỗi"},
                    30,
                ),
                *supplement(second, 2, at(2, 9), T0 + timedelta(hours=1)),
                issued(second, T0 + timedelta(hours=2)),
            ],
        )
        mon.wait(lambda: (tonight, "PAST_DUE", "RAISED", "PAST_DUE") in mon.sla(), "tonight's PAST_DUE", 60)
        mon.wait(lambda: (tomorrow, "DUE_SOON", "RAISED", "DUE_SOON") in mon.sla(), "tomorrow's DUE_SOON", 30)
        settle = time.monotonic() + 8 * SCAN_S  # a few more scans: nothing may repeat
        mon.wait(lambda: time.monotonic() > settle, "quiet")
    finally:
        output = mon.stop()
    assert mon.child is not None and mon.child.returncode is not None

    assert Counter(mon.sla()) == Counter(
        [
            (tonight, "DUE_SOON", "RAISED", "DUE_SOON"),
            (tonight, "PAST_DUE", "RAISED", "PAST_DUE"),
            (tonight, "OVERDUE_WITHOUT_APOLOGY", "RAISED", "OVERDUE_WITHOUT_APOLOGY"),
            (tonight, "DUE_SOON", "CLEARED", "now_past_due"),
            (tomorrow, "DUE_SOON", "RAISED", "DUE_SOON"),
            (resolved, "DUE_SOON", "RAISED", "DUE_SOON"),
            (resolved, "DUE_SOON", "CLEARED", "resolved"),
            (apology, "PAST_DUE", "RAISED", "PAST_DUE"),
            (apology, "OVERDUE_WITHOUT_APOLOGY", "RAISED", "OVERDUE_WITHOUT_APOLOGY"),
            (apology, "PAST_DUE", "CLEARED", "due_date_moved"),
            (apology, "OVERDUE_WITHOUT_APOLOGY", "CLEARED", "apology_recorded"),
            (second, "SECOND_SUPPLEMENT", "RAISED", "SECOND_SUPPLEMENT"),
            (second, "SECOND_SUPPLEMENT", "CLEARED", "resolved"),
        ]
    ), output
    sla = [r for k, r in mon.seen if k == "sla"]
    assert len({r["record_id"] for r in sla}) == len(sla)
    timed = [r for r in sla if r["state"] == "RAISED" and r["threshold_at"] and r["threshold_at"] > T0]
    assert {(r["dossier_code"], r["condition"]) for r in timed} >= {(tonight, "PAST_DUE"), (tomorrow, "DUE_SOON")}
    lateness = {(r["dossier_code"], r["condition"]): (r["detected_at"] - r["threshold_at"]) for r in timed}
    print(f"\nSLA detection lateness (business time, clock x{SPEED:g}, scan {SCAN_S} s): {lateness}")
    for key, late in lateness.items():
        assert timedelta(0) <= late <= timedelta(seconds=(SCAN_S + 1.5) * SPEED), key
    tonight_past = next(r for r in timed if r["dossier_code"] == tonight and r["condition"] == "PAST_DUE")
    assert tonight_past["threshold_at"] == datetime(2026, 3, 3, tzinfo=VN)  # the due day's local midnight
    samples = [r for k, r in mon.seen if k == "health-samples"]
    assert samples, "the health monitor publishes a sample every interval"
    # faust's local files go where HUB_MONITOR_DATA_DIR says, not into the directory the hub ran from
    assert any(mon.data_dir.iterdir()) and not Path(f"{mon.app_id}-data").exists()


def test_health_alerts_security_refusals_and_a_confluent_consumer(kafka_settings: Settings, tmp_path: Any) -> None:
    settings = fresh_topic(kafka_settings)
    url = f"sqlite:///{tmp_path}/read.sqlite3"
    engine = make_engine(settings.model_copy(update={"database_url": url}))
    counters = dict.fromkeys(["records_read", "pages", "failures", "retries", "breaker_opens"], 0)

    def connector(breaker: str, error: str | None = None, **add: int) -> None:
        for name, n in add.items():
            counters[name] += n
        row = {
            "name": "onestop",
            "cursor": "2026-03-02T08:00:00",
            "breaker_state": breaker,
            "counters": dumps(counters),
            "last_error": error,
            "updated_at": datetime.now(UTC),
        }
        with engine.begin() as conn:
            upsert(conn, connector_state_table, [row])

    connector("closed", pages=10, records_read=100)
    publish(settings, received("H34-HEALTH-0", at(1, 8), at(2, 17)))  # long past due by the real clock: sla too
    mon = Monitoring(
        settings, url, tmp_path / "monitor", monitor_health_interval_s="0.5", monitor_dead_letters_per_min="1"
    )
    mon.start()
    try:

        def health() -> list[tuple[str, str, str]]:
            return [(r["component"], r["signal"], r["state"]) for k, r in mon.seen if k == "health"]

        mon.wait(lambda: any(k == "health-samples" for k, _ in mon.seen), "a first sample")
        connector("open", f"SOAP fault for CCCD {RAW_CCCD}: HTTP 500", pages=2, failures=8, retries=8, breaker_opens=1)
        with engine.begin() as conn:
            conn.execute(
                sa.insert(security_events_table).values(
                    at=datetime.now(UTC),
                    source="PAYGOV",
                    kind="bad_signature",
                    reference="MC0123456789abcdef01",
                    remote="127.0.0.1",
                    detail=f"MaXacThuc does not match (payer {RAW_CCCD})",
                )
            )
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        for n in range(5):
            producer.send(settings.dead_letter_topic, key=b"x", value=b"parked %d" % n)
        producer.flush()
        producer.close()
        mon.wait(
            lambda: (
                {
                    ("onestop", "BREAKER", "CHANGED"),
                    ("onestop", "ERROR_RATE", "RAISED"),
                    ("hub", "DEAD_LETTERS", "RAISED"),
                }
                <= set(health())
                and any(k == "security" for k, _ in mon.seen)
            ),
            "breaker, error-rate and dead-letter alerts and the refusal",
        )
        connector("closed", None, pages=20, records_read=200)
        mon.wait(
            lambda: {("onestop", "ERROR_RATE", "CLEARED"), ("hub", "DEAD_LETTERS", "CLEARED")} <= set(health()),
            "the alerts cleared",
        )
    finally:
        output = mon.stop()
    tail = run_to_end(["monitor", "tail", "--from-beginning", "--json", "--idle-exit", "3"], mon.env, timeout_s=60)

    assert Counter(h for h in health() if h[1] == "BREAKER") == Counter(
        [("onestop", "BREAKER", "CHANGED"), ("onestop", "BREAKER", "CHANGED")]
    ), output
    assert Counter(health())[("onestop", "ERROR_RATE", "RAISED")] == 1
    refusal = next(r for k, r in mon.seen if k == "security")
    assert refusal["kind"] == "bad_signature" and refusal["reference"] == "MC0123456789abcdef01"

    # `hub monitor tail` prints every record decoded
    assert tail.returncode == 0, tail.stderr
    lines = [json.loads(line) for line in tail.stdout.splitlines()]
    assert Counter(line["topic"] for line in lines) == Counter(mon.prefix + k for k, _ in mon.seen)

    # A third-party client decodes every monitoring topic with nothing but the .avsc files in schemas/
    decoded = confluent_read(settings.kafka_bootstrap, [mon.prefix + k for k in TOPICS])
    assert Counter(topic for topic, _ in decoded) == Counter(mon.prefix + k for k, _ in mon.seen)
    assert {t.removeprefix(mon.prefix) for t, _ in decoded} == set(TOPICS), "every monitoring topic was exercised"

    # No raw identity number anywhere: records (masked in free text), tail output, the monitor's logs
    assert RAW_CCCD not in tail.stdout and RAW_CCCD not in output
    assert "079*******12" in tail.stdout


def confluent_read(bootstrap: str, topics: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """librdkafka's consumer and fastavro, given only schemas/monitoring/*.avsc: decode single-object records."""
    import io

    import fastavro
    from confluent_kafka import Consumer

    by_fingerprint = {}
    for path in (default_schemas_root() / "monitoring").glob("*.avsc"):
        parsed = fastavro.parse_schema(json.loads(path.read_text()))
        canonical = fastavro.schema.to_parsing_canonical_form(parsed)
        by_fingerprint[bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))] = parsed
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"confluent-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe(topics)
    out: list[tuple[str, dict[str, Any]]] = []
    quiet_until = time.monotonic() + 20
    try:
        while time.monotonic() < quiet_until:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            value, topic = message.value(), message.topic()
            assert value is not None and topic is not None and value[:2] == b"\xc3\x01", "single-object encoding"
            record = fastavro.schemaless_reader(io.BytesIO(value[10:]), by_fingerprint[value[2:10]], None)
            assert isinstance(record, dict)
            out.append((topic, record))
            quiet_until = time.monotonic() + 4
    finally:
        consumer.close()
    return out


def test_a_monitor_killed_at_random_points_publishes_what_a_clean_run_does(
    kafka_settings: Settings, tmp_path: Any
) -> None:
    from simulators.synthetic import province_events
    from tests.support.processes import kill_repeatedly

    settings = fresh_topic(kafka_settings)
    events = list(province_events(6_000))
    # Tansu reports a partition's end as its last batch's first offset + 1. The monitor
    # takes what lies past the end it read at start for live traffic and judges it batch by batch as it
    # arrives, so the conditions of those records would depend on timing (CI once saw 48 more in the killed
    # run). The last events go one per batch: the ends are then exact and every event is history in both runs.
    publish(settings, events[:-60])
    publish(settings, events[-60:], batch=1)
    assert sum(make_log_end(settings)().values()) == len(events)
    dossiers = len({e.dossier_code for e in events})

    def judged(url: str) -> bool:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                folded, unjudged, pending = conn.exec_driver_sql(
                    "SELECT (SELECT count(*) FROM hub_monitor_dossiers), "
                    "(SELECT count(*) FROM hub_monitor_dossiers WHERE next_check_at < '2000-01-01'), "
                    "(SELECT count(*) FROM hub_monitor_outbox)"
                ).one()
        except sa.exc.OperationalError:  # not created yet
            return False
        finally:
            engine.dispose()
        return bool(folded == dossiers and unjudged == 0 and pending == 0)

    def run(name: str, kills: int) -> tuple[Monitoring, float]:
        url = f"sqlite:///{tmp_path}/{name}.sqlite3"
        mon = Monitoring(settings, url, tmp_path / f"{name}-monitor", monitor_scan_interval_s="0.5")
        started = time.monotonic()
        if kills:
            kill_repeatedly(["monitor", "run"], mon.env, times=kills, between_s=(3, 7), seed=11, progress=lambda: None)
        mon.start()
        try:
            mon.wait(lambda: judged(url), f"{name}: every dossier judged and published", timeout_s=240)
        finally:
            mon.stop()
        return mon, time.monotonic() - started

    clean, clean_s = run("clean", 0)
    killed, killed_s = run("killed", 2)
    ids = {
        name: Counter(r["record_id"] for k, r in mon.seen if k == "sla")
        for name, mon in (("clean", clean), ("killed", killed))
    }
    print(
        f"\nmonitor over {len(events)} events / {dossiers} dossiers: clean run {clean_s:.1f} s, "
        f"{sum(ids['clean'].values())} SLA records; 2 SIGKILLs then a last run {killed_s:.1f} s, "
        f"{sum(ids['killed'].values())} records, {len(ids['killed'])} distinct"
    )
    assert ids["clean"] and set(ids["clean"].values()) == {1}
    assert set(ids["killed"]) == set(ids["clean"]), "nothing lost, nothing invented"
    repeated = sum(n - 1 for n in ids["killed"].values())
    assert repeated <= 2 * 500, "only a crashed flush's batch can come twice (same record_id)"
