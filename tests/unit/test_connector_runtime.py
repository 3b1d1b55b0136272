"""The connector runtime with fakes of its ports: cursor after acknowledgement, retries, the breaker's
three states, dead letters and duplicate skipping."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import UpstreamError
from hub.log.dead_letters import DeadLetters
from hub.ports import UpstreamRecord
from hub.runtime.connector_runtime import ConnectorRunner
from hub.settings import Settings
from hub.store.connector_state import ConnectorStateStore
from hub.store.sql_store import make_engine, migrate
from tests.support.fakes import RecordingLog, RecordingSink, ScriptedUpstream


@pytest.fixture
def store(tmp_path: Path) -> ConnectorStateStore:
    engine = make_engine(f"sqlite:///{tmp_path}/state.sqlite3")
    migrate(engine)
    return ConnectorStateStore(engine)


def runner(
    upstream: ScriptedUpstream, store: ConnectorStateStore, log: RecordingLog | None = None
) -> tuple[ConnectorRunner, RecordingLog, RecordingSink, list[float]]:
    sink, slept = RecordingSink(), list[float]()
    log = log or RecordingLog()
    config = Settings(connector_page_size=3, connector_retry_attempts=3, breaker_fail_max=3, breaker_reset_s=0.2)
    return ConnectorRunner(upstream, log, DeadLetters(sink, "dlq"), store, config, sleep=slept.append), log, sink, slept


def records(n: int, bad: frozenset[int] = frozenset()) -> list[UpstreamRecord]:
    return [UpstreamRecord(str(i), {"bad": i in bad, "secret": "001203004567"}, f"D-{i}") for i in range(n)]


def test_pages_flow_bad_records_are_parked_and_the_cursor_follows(store: ConnectorStateStore) -> None:
    run, log, sink, _ = runner(ScriptedUpstream(records(8, bad=frozenset({4}))), store)
    state = run.run(idle_exit_s=0)
    assert [e.dossier_code for e in log.events] == [f"D-{i}" for i in range(8) if i != 4]
    assert state.cursor == "8" and store.load("fake").cursor == "8"
    assert state.counters["parked"] == 1 and state.counters["records_read"] == 8
    topic, key, raw, headers = sink.sent[0]
    assert (topic, key, raw) == ("dlq", b"D-4", b'{"bad":true,"secret":"***"}'), "parked records are redacted"
    assert dict(headers)["dlq.reason"] == b"bad record" and dict(headers)["dlq.record_id"] == b"4"


def test_cursor_moves_only_after_the_broker_acknowledged(store: ConnectorStateStore) -> None:
    log = RecordingLog()
    log.fail_next = 1
    run, _, _, _ = runner(ScriptedUpstream(records(6)), store, log)
    with pytest.raises(UpstreamError):
        run.step()
    assert store.load("fake").cursor is None, "nothing acknowledged, nothing advanced"
    run.run(idle_exit_s=0)
    assert [e.dossier_code for e in log.events] == [f"D-{i}" for i in range(6)]


def test_a_restart_resumes_from_the_stored_cursor(store: ConnectorStateStore) -> None:
    first, log, _, _ = runner(ScriptedUpstream(records(9)), store)
    first.step()
    second, log2, _, _ = runner(ScriptedUpstream(records(9)), store)
    second.run(idle_exit_s=0)
    assert [e.dossier_code for e in log.events] == ["D-0", "D-1", "D-2"]
    assert [e.dossier_code for e in log2.events] == [f"D-{i}" for i in range(3, 9)]


def test_transient_failures_are_retried_with_backoff(store: ConnectorStateStore) -> None:
    run, log, _, slept = runner(ScriptedUpstream(records(3), failures=2), store)
    outcome = run.step()
    assert outcome.fetched and len(log.events) == 3
    assert run.state.counters["retries"] == 2 and run.state.counters["failures"] == 2
    assert len(slept) == 2 and all(0 < s <= 10 for s in slept)


def test_breaker_opens_backs_off_half_opens_and_closes(store: ConnectorStateStore) -> None:
    import time

    upstream = ScriptedUpstream(records(3), failures=10)
    run, log, _, _ = runner(upstream, store)
    seen = set()
    while run.breaker.current_state != "open":
        run.step()
        seen.add(store.load("fake").breaker_state)
    assert "open" in seen, "status shows the open breaker"
    calls = upstream.calls
    assert not run.step().fetched and upstream.calls == calls, "while open, the upstream is left alone"
    upstream.failures = 0  # the upstream heals
    time.sleep(0.25)  # breaker_reset_s: the next call is the half-open trial
    assert run.step().fetched
    assert run.breaker.current_state == "closed" and store.load("fake").breaker_state == "closed"
    assert len(log.events) == 3


def test_duplicates_in_and_across_pages_are_skipped(store: ConnectorStateStore) -> None:
    upstream = ScriptedUpstream(records(4))
    upstream.records = [*upstream.records[:3], upstream.records[1], *upstream.records[3:]]  # 1 delivered twice
    run, log, _, _ = runner(upstream, store)
    state = run.run(idle_exit_s=0)
    assert [e.dossier_code for e in log.events] == ["D-0", "D-1", "D-2", "D-3"]
    assert state.counters["duplicates_skipped"] == 1
