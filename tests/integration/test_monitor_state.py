"""The monitors' SQL state on both stores, without a broker: conditions raised once and cleared once
whatever is redelivered or re-scanned, alerts that survive a restart without repeating, and an outbox
that keeps what the broker did not acknowledge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hub.bootstrap import make_engine
from hub.domain.events import EventType, new_event
from hub.monitoring import outbox
from hub.monitoring.health import HealthMonitor, Thresholds
from hub.monitoring.records import MonitoringCodec
from hub.monitoring.sla_monitor import SlaMonitor
from hub.settings import Settings
from hub.store.sql_store import connector_state_table, dumps, monitor_outbox_table, security_events_table, upsert
from simulators.province.read_back import read_store
from tests.support.dossier_events import VN, at, issued, received

CODEC = MonitoringCodec()


def drain(engine: sa.Engine) -> list[tuple[str, dict[str, Any]]]:
    """Publish the outbox to a list, as the worker publishes it to Kafka."""
    sent: list[tuple[str, dict[str, Any]]] = []

    async def send(topic: str, key: bytes, value: bytes) -> Any:
        sent.append((topic.rsplit(".", 1)[-1], CODEC.decode(value)[1]))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    asyncio.run(outbox.flush(engine, send))
    return sent


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_sla_state_raises_once_clears_once_under_redelivery_and_rescans(
    request: pytest.FixtureRequest, database: str, tmp_path: Any
) -> None:
    engine = make_engine(Settings(database_url=read_store(request, database, tmp_path)))
    sla = SlaMonitor(engine, timedelta(hours=24))
    events = received("D1", at(1, 9), at(2, 17))
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=VN)
    assert sla.apply(events, t0) == 1  # DUE_SOON
    assert sla.apply(list(reversed(events)), t0) == 0  # redelivered: the fold has seen them
    midnight = datetime(2026, 3, 3, 0, 0, tzinfo=VN)
    assert sla.scan(midnight - timedelta(seconds=1)) == 0
    assert sla.scan(midnight) == 3  # PAST_DUE, OVERDUE_WITHOUT_APOLOGY raised; DUE_SOON cleared
    assert sla.scan(midnight + timedelta(hours=5)) == 0  # nothing left for time to change
    assert sla.apply([issued("D1", midnight + timedelta(hours=6))], midnight + timedelta(hours=6)) == 2
    records = drain(engine)
    assert [(r["condition"], r["state"], r["reason"]) for _, r in records] == [
        ("DUE_SOON", "RAISED", "DUE_SOON"),
        ("PAST_DUE", "RAISED", "PAST_DUE"),
        ("OVERDUE_WITHOUT_APOLOGY", "RAISED", "OVERDUE_WITHOUT_APOLOGY"),
        ("DUE_SOON", "CLEARED", "now_past_due"),
        ("OVERDUE_WITHOUT_APOLOGY", "CLEARED", "resolved"),  # a dossier's clears come in key order
        ("PAST_DUE", "CLEARED", "resolved"),
    ]
    assert records[1][1]["threshold_at"] == midnight and records[1][1]["detected_at"] == midnight
    assert drain(engine) == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_health_alerts_once_per_crossing_across_a_restart(
    request: pytest.FixtureRequest, database: str, tmp_path: Any
) -> None:
    engine = make_engine(Settings(database_url=read_store(request, database, tmp_path)))
    dead_letters = [0]
    thresholds = Thresholds(error_rate=0.5, error_min_attempts=4, cursor_stall_s=60, divergences=2)

    def monitor() -> HealthMonitor:  # a new instance each time: what a restarted worker has
        return HealthMonitor(engine, thresholds, lambda: dead_letters[0])

    def connector(cursor: str, breaker: str, pages: int, failures: int) -> None:
        counters = {
            "pages": pages,
            "failures": failures,
            "retries": failures,
            "breaker_opens": int(breaker != "closed"),
        }
        row = {
            "name": "vnpost",
            "cursor": cursor,
            "breaker_state": breaker,
            "counters": dumps(counters),
            "last_error": "timeout fetching 079203004512",
            "updated_at": datetime.now(UTC),
        }
        with engine.begin() as conn:
            upsert(conn, connector_state_table, [row])

    def diverge(n: int, start: int) -> None:
        event = [
            new_event(
                EventType.DIVERGENCE_DETECTED,
                dossier_code=f"D{i}",
                source_system="DVCQG",
                source_ref=f"div/{i}",
                occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
                payload={"field": "TrangThaiHoSo", "portal_value": "4", "hub_value": "5"},
            )
            for i in range(start, start + n)
        ]
        SlaMonitor(engine, timedelta(hours=24)).apply(event, datetime(2026, 3, 2, tzinfo=UTC))

    t = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    connector("c1", "closed", pages=10, failures=0)
    monitor().tick(t)
    connector("c1", "open", pages=12, failures=8)  # 8 of 10 fetches failed; the cursor stays at c1
    dead_letters[0] = 3
    diverge(3, 0)
    monitor().tick(t + timedelta(seconds=30))
    monitor().tick(t + timedelta(seconds=60))  # cursor unchanged 60 s while failing: stalled
    connector("c1", "open", pages=12, failures=12)
    monitor().tick(t + timedelta(seconds=95))  # still failing: nothing new
    connector("c2", "closed", pages=30, failures=12)
    diverge(1, 3)
    monitor().tick(t + timedelta(seconds=125))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(security_events_table).values(
                at=t, source="VNPOST", kind="bad_signature", remote="10.0.0.9", detail="X-Signature mismatch"
            )
        )
    monitor().tick(t + timedelta(seconds=155))
    monitor().tick(t + timedelta(seconds=185))
    records = drain(engine)
    alerts = [(r["component"], r["signal"], r["state"]) for kind, r in records if kind == "health"]
    assert alerts == [
        ("vnpost", "BREAKER", "CHANGED"),
        ("vnpost", "ERROR_RATE", "RAISED"),
        ("hub", "DEAD_LETTERS", "RAISED"),
        ("DVCQG", "DIVERGENCES", "RAISED"),
        ("vnpost", "CURSOR_STALL", "RAISED"),  # 60 s unchanged while fetching and failing
        ("hub", "DEAD_LETTERS", "CLEARED"),
        ("DVCQG", "DIVERGENCES", "CLEARED"),
        ("vnpost", "BREAKER", "CHANGED"),
        ("vnpost", "ERROR_RATE", "CLEARED"),
        ("vnpost", "CURSOR_STALL", "CLEARED"),
    ]
    samples = [r for kind, r in records if kind == "health-samples"]
    assert len(samples) == 7
    assert samples[1]["connectors"][0]["error_rate"] == pytest.approx(0.8)
    assert samples[1]["connectors"][0]["last_error"] == "timeout fetching 079*******12"
    assert samples[-1]["divergences"] == {"DVCQG": 4}
    security = [r for kind, r in records if kind == "security"]
    assert [(r["source"], r["kind"], r["remote"]) for r in security] == [("VNPOST", "bad_signature", "10.0.0.9")]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(monitor_outbox_table)).scalar_one() == 0


@pytest.mark.parametrize("database", ["sqlite"])
def test_the_outbox_keeps_what_the_broker_did_not_acknowledge(
    request: pytest.FixtureRequest, database: str, tmp_path: Any
) -> None:
    engine = make_engine(Settings(database_url=read_store(request, database, tmp_path)))
    SlaMonitor(engine, timedelta(hours=24)).apply(received("D9", at(1, 9), at(2, 17)), datetime(2026, 3, 2, tzinfo=VN))

    async def refuse(topic: str, key: bytes, value: bytes) -> Any:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("broker gone"))
        return failed

    with pytest.raises(ConnectionError):
        asyncio.run(outbox.flush(engine, refuse))
    assert [r["condition"] for _, r in drain(engine)] == ["DUE_SOON"]


@pytest.mark.parametrize("database", ["sqlite"])
def test_replayed_history_is_judged_once_at_the_end_not_on_the_way(
    request: pytest.FixtureRequest, database: str, tmp_path: Any
) -> None:
    engine = make_engine(Settings(database_url=read_store(request, database, tmp_path)))
    sla = SlaMonitor(engine, timedelta(hours=24))
    now = datetime(2026, 11, 23, 9, 0, tzinfo=VN)
    old, open_ = received("OLD", at(1, 9), at(2, 17)), received("OPEN", at(1, 9), at(2, 17))
    assert sla.apply([*old, *open_], now, evaluate=False) == 0  # a first batch of history: long past due...
    assert sla.apply([issued("OLD", at(2, 10))], now, evaluate=False) == 0  # ...but OLD finished in the next
    assert sla.scan(now) == 2  # after the replay: OPEN is past due without apology, OLD says nothing
    assert sorted((r["dossier_code"], r["condition"]) for _, r in drain(engine)) == [
        ("OPEN", "OVERDUE_WITHOUT_APOLOGY"),
        ("OPEN", "PAST_DUE"),
    ]


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_results_sync_backlog_is_sampled_and_alerts_on_age(
    request: pytest.FixtureRequest, database: str, tmp_path: Any
) -> None:
    from hub.store.projection_store import activate_first_generation
    from projections.registry import projection

    engine = make_engine(Settings(database_url=read_store(request, database, tmp_path)))
    generation = activate_first_generation(engine, projection("results")).active_generation
    results = projection("results").tables(generation)[0]
    t = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def result(code: str, state: str, age_s: float) -> dict[str, Any]:
        digitised = t - timedelta(seconds=age_s)
        return {"result_code": code, "dossier_code": "D", "attempts": 0, "parked": False, "state": state} | {
            "digitised_at": digitised
        }

    with engine.begin() as conn:
        upsert(conn, results, [result("R1", "synced", 9000), result("R2", "pending", 600), result("R3", "failed", 120)])
    monitor = HealthMonitor(engine, Thresholds(results_backlog_age_s=1800, results_backlog=10), lambda: 0)
    monitor.tick(t)
    monitor.tick(t + timedelta(seconds=1300))  # R2 is now 1,900 s old
    with engine.begin() as conn:
        conn.execute(sa.update(results).where(results.c.result_code == "R2").values(state="synced"))
    monitor.tick(t + timedelta(seconds=1330))
    records = drain(engine)
    samples = [r["results_sync"] for kind, r in records if kind == "health-samples"]
    assert samples[0] == {"synced": 1, "backlog": 2, "failing": 1, "oldest_backlog_age_s": 600.0}
    assert samples[2] == {"synced": 2, "backlog": 1, "failing": 1, "oldest_backlog_age_s": 1450.0}
    alerts = [(r["signal"], r["state"], r["value"]) for kind, r in records if kind == "health"]
    assert alerts == [("RESULTS_SYNC_BACKLOG", "RAISED", 1900.0), ("RESULTS_SYNC_BACKLOG", "CLEARED", 1450.0)]
