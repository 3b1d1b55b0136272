"""Digitised results kept in sync with the citizen's national data store, over real sockets, the real
broker and SQLite: files streamed from the one-stop's links, corrupted uploads re-sent, replaced
results propagated, drift found and repaired, a killed sync leaving no duplicate and no gap."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from connectors.dvcqg.results.sync import ResultsSync
from hub.bootstrap import make_log, results_sync
from hub.domain.events import Event, EventType
from hub.settings import Settings
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import PortalWorld
from simulators.local.http import BackgroundServer
from simulators.onestop.simulator import OnestopSimulator
from simulators.onestop.world import DigitisedFile, World
from simulators.province.read_back import Projector, fresh_topic, publish, read_log, read_store
from simulators.synthetic import digitised_result
from tests.support.processes import hub_env, kill_repeatedly, run_to_end

KEY = b"test-identity-key-0123456789"


def result_event(code: str, n: int, uri: str, content: bytes, replaces: str | None = None) -> Event:
    return digitised_result(code, n, uri, content, KEY, replaces)


@dataclass
class ResultsHub:
    settings: Settings
    url: str
    portal: PortalSimulator
    source: OnestopSimulator
    projector: Projector
    events: list[Event]

    def add(self, count: int, start: int = 0, replaces: dict[int, str] | None = None) -> list[Event]:
        """``count`` results (numbers from ``start``), their files served by the one-stop simulator."""
        made = []
        for n in range(start, start + count):
            code = f"KQ{n:07d}"
            content = f"%PDF-1.4 kết quả {code} ".encode() * (1 + n % 9)
            self.source.world.files[code] = DigitisedFile(code, content)
            made.append(result_event(code, n, f"{self.source.url}/tep/{code}", content, (replaces or {}).get(n)))
        publish(self.settings, made)
        self.events += made
        return made

    def policy(self) -> ResultsSync:
        log = make_log(self.settings)
        sync = results_sync(self.settings, log)
        sync._log = log  # type: ignore[attr-defined]  # closed with the policy by the caller's finally
        return sync

    def settle(self, sync: ResultsSync, max_s: float = 300) -> None:
        """Tick until nothing is left to do and the projections saw every outcome."""
        deadline = time.monotonic() + max_s
        quiet = 0
        while quiet < 4:
            assert time.monotonic() < deadline, "the results sync did not settle"
            done = sync.tick()
            quiet = 0 if done else quiet + 1
            time.sleep(0.1 if done else 0.4)

    def rows(self, query: str) -> list[Any]:
        engine = sa.create_engine(self.url)
        with engine.connect() as conn:
            found = list(conn.execute(sa.text(query)))
        engine.dispose()
        return found


@pytest.fixture
def results_hub(kafka_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ResultsHub]:
    faults, database = request.param
    settings = fresh_topic(kafka_settings)
    url = read_store(request, database, tmp_path)
    with (
        PortalSimulator(PortalWorld(), faults, token_ttl_s=5.0) as portal,
        OnestopSimulator(World(seed=1)) as source,
        Projector(settings, url) as projector,
    ):
        settings = settings.model_copy(
            update={
                "database_url": url,
                **portal.hub_settings(),
                "dvcqg_timeout_s": 0.5,
                "policy_retry_base_s": 0.05,
                "policy_retry_max_s": 0.2,
                "policy_max_attempts": 100,
            }
        )
        yield ResultsHub(settings, url, portal, source, projector, [])


def realistic_store() -> PortalFaults:
    faults = PortalFaults.realistic()
    faults.corrupt_upload_rate, faults.timeout_s, faults.partial_batch_rate = 0.05, 0.8, 0.0
    return faults


@pytest.mark.parametrize("results_hub", [(realistic_store(), "sqlite")], indirect=True)
def test_2000_results_are_synced_exactly_once_with_corrupted_uploads_re_sent(results_hub: ResultsHub) -> None:
    hub = results_hub
    hub.add(1900)
    sync = hub.policy()
    try:
        hub.settle(sync)
        hub.add(100, start=1900, replaces={n: f"KQ{n - 1900:07d}" for n in range(1900, 1950)})  # 50 replace synced ones
        hub.settle(sync)
    finally:
        sync.close()
        sync._log.close()  # type: ignore[attr-defined]
    store = hub.portal.store
    assert len(store.results) == 2000
    for event in hub.events:
        code, file = event.payload["result_code"], event.payload["file"]
        stored = store.results[code]
        assert store.files[stored.file_id][0] == file["sha256"], f"{code}: the stored bytes are the source's"
        assert store.file_bytes(stored.file_id) == hub.source.world.files[code].content
        assert (
            stored.owner == event.payload["owner"]["hash"]
            and stored.metadata["SoKyHieu"] == f"{event.payload['document_number']}"
        )
    assert max(store.registrations.values()) == 1, "no result registered twice"
    replaced = {f"KQ{n - 1900:07d}" for n in range(1900, 1950)}
    assert {c for c, r in store.results.items() if r.status == "THAY_THE"} == replaced
    log = read_log(hub.settings)
    synced = Counter(e.payload["result_code"] for e in log if e.event_type is EventType.RESULT_SYNCED)
    assert set(synced) == {e.payload["result_code"] for e in hub.events} and set(synced.values()) == {1}
    counts = hub.portal.state.counts
    # Corrupted uploads were caught by their hash (those whose answer a timeout swallowed were simply re-sent).
    assert 0 < sync.counters["corrupted_uploads"] <= counts["corrupted_uploads"]
    assert counts["timeout"] > 0 and counts["http500"] > 0
    time.sleep(1.5)
    states = dict(hub.rows("SELECT state, count(*) FROM v_results GROUP BY state"))
    assert states == {"synced": 1950, "replaced": 50}
    print(f"synced {len(synced)} counters {dict(sync.counters)} store {counts}")


@pytest.mark.parametrize("results_hub", [(PortalFaults(), "sqlite"), (PortalFaults(), "postgresql")], indirect=True)
def test_drift_in_the_store_is_found_and_repaired_and_nothing_else_is_reported(results_hub: ResultsHub) -> None:
    from connectors.dvcqg.store_feed import StoreFeedUpstream
    from hub.bootstrap import dvcqg_client, make_connector_runner

    hub = results_hub
    made = hub.add(60)
    sync = hub.policy()
    try:
        hub.settle(sync)
        store, codes = hub.portal.store, [e.payload["result_code"] for e in made]
        for code in codes[:3]:
            store.drift(code, "SoKyHieu", "99/GP-SAI")  # silent: only reconciliation can see it
        store.extra("KQ9999999", "someone-else")
        del hub.source.world.files[codes[10]]
        expected = {(c, "differs_in_store") for c in codes[:3]} | {("KQ9999999", "unknown_in_store")}
        expected |= {(codes[10], "missing_at_onestop")}
        env = hub_env_for(hub)
        first = run_to_end(["reconcile", "results", "--json"], env)
        assert first.returncode == 1, first.stderr[-2000:]
        assert findings(first.stdout) == expected
        hub.settle(sync)  # the drifted ones are repaired
        assert all(store.results[c].metadata["SoKyHieu"] != "99/GP-SAI" for c in codes[:3])
        second = run_to_end(["reconcile", "results", "--json"], env)
        assert findings(second.stdout) == expected - {(c, "differs_in_store") for c in codes[:3]}
        # Changes announced in the store's feed: an edit is repaired, a revocation is respected.
        store.drift(codes[20], "NguoiKy", "Người khác", silent=False)
        store.revoke(codes[21])
        store.garbage()
        log = make_log(hub.settings)
        try:
            feed = make_connector_runner(StoreFeedUpstream(dvcqg_client(hub.settings)), hub.settings, log)
            counters = feed.run(idle_exit_s=0).counters
            assert (counters["events_produced"], counters["parked"]) == (2, 1), "the malformed entry is parked"
        finally:
            log.close()
        hub.settle(sync)
    finally:
        sync.close()
        sync._log.close()  # type: ignore[attr-defined]
    assert store.results[codes[20]].metadata["NguoiKy"] == "Giám đốc Sở", "repaired"
    assert store.results[codes[21]].status == "THU_HOI", "a revocation is not undone"
    time.sleep(1.0)
    states = dict(hub.rows("SELECT state, count(*) FROM v_results GROUP BY state"))
    assert states == {"synced": 59, "revoked": 1}
    repairs = Counter(
        e.payload["result_code"]
        for e in read_log(hub.settings)
        if e.event_type is EventType.RESULT_SYNCED and e.payload["operation"] == "REPAIR"
    )
    assert repairs == Counter({c: 1 for c in [*codes[:3], codes[20]]})


def hub_env_for(hub: ResultsHub) -> dict[str, str]:
    s = hub.settings
    return hub_env(
        s,
        database_url=s.database_url,
        **hub.portal.hub_settings(),
        onestop_url=hub.source.url,
        identity_key=KEY.decode(),
        policy_retry_base_s="0.05",
        policy_retry_max_s="0.2",
        policy_max_attempts="1000",
        policy_interval_s="0.2",
        dvcqg_timeout_s="2",
    )


def findings(stdout: str) -> set[tuple[str, str]]:
    return {
        (words[2], words[0])
        for words in (line.split() for line in stdout.splitlines())
        if words and not words[0].startswith("{")
    }


def slow_source(files: dict[str, bytes], chunk_s: float) -> BackgroundServer:
    """A file source on a slow link: 64 KiB every ``chunk_s`` (so a kill lands inside an upload)."""
    app = FastAPI()

    @app.get("/tep/{code}")
    async def file(code: str) -> StreamingResponse:
        content = files[code]

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(content), 65536):
                await asyncio.sleep(chunk_s)
                yield content[start : start + 65536]

        return StreamingResponse(chunks(), media_type="application/pdf")

    return BackgroundServer(app)


@pytest.mark.parametrize("results_hub", [(PortalFaults(), "sqlite")], indirect=True)
def test_a_sync_killed_mid_upload_leaves_no_duplicate_and_no_gap(results_hub: ResultsHub) -> None:
    hub = results_hub
    files = {f"KQ{n:07d}": hashlib.sha256(str(n).encode()).digest() * (2 * 2**20 // 32) for n in range(12)}  # 2 MB
    with slow_source(files, 0.03) as source:
        made = [
            result_event(code, n, f"{source.url}/tep/{code}", content)
            for n, (code, content) in enumerate(files.items())
        ]
        publish(hub.settings, made)
        env = {**hub_env_for(hub), "HUB_RESULTS_SYNC_CONCURRENCY": "2"}
        store = hub.portal.store
        kills = kill_repeatedly(
            ["policies", "run", "results-sync", "--reconcile-every", "0"],
            env,
            times=5,
            between_s=(2.0, 3.5),
            seed=5,
            progress=lambda: len(store.results),
        )
        done = run_to_end(
            ["policies", "run", "results-sync", "--reconcile-every", "0", "--idle-exit", "3"], env, timeout_s=300
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert kills[0] < len(made), "the kills came before everything was synced"
    assert hub.portal.state.counts.get("uploads_cut", 0) > 0, "some kills cut an upload"
    assert set(store.results) == set(files), "no gap"
    assert max(store.registrations.values()) == 1, "no duplicate"
    for e in made:
        stored = store.results[e.payload["result_code"]]
        assert store.file_bytes(stored.file_id) == files[e.payload["result_code"]]
    synced: dict[str, set[object]] = {}
    for e in read_log(hub.settings):
        if e.event_type is EventType.RESULT_SYNCED:
            synced.setdefault(e.payload["result_code"], set()).add(e.event_id)
    assert {code: len(ids) for code, ids in synced.items()} == dict.fromkeys(files, 1)


@pytest.mark.parametrize("results_hub", [(PortalFaults(), "sqlite")], indirect=True)
def test_parked_results_are_listed_and_sent_again_by_resync(results_hub: ResultsHub) -> None:
    hub = results_hub
    hub.settings = hub.settings.model_copy(update={"policy_max_attempts": 2})
    made = hub.add(10)
    lost = [e.payload["result_code"] for e in made[:2]]
    kept = {code: hub.source.world.files.pop(code) for code in lost}  # the source cannot serve them
    sync = hub.policy()
    env = {**hub_env_for(hub), "HUB_POLICY_MAX_ATTEMPTS": "2"}
    try:
        hub.settle(sync)
        time.sleep(1.0)
        listed = run_to_end(["results", "status", "--state", "failed"], env)
        assert "8 synced" in listed.stdout and "2 failed" in listed.stdout, listed.stdout + listed.stderr
        assert all(f"{code}  " in listed.stdout and "source-unreadable" in listed.stdout for code in lost)
        hub.source.world.files.update(kept)
        again = run_to_end(["results", "resync", "--state", "failed", "--agency", "G01"], env)
        assert "2 failed result(s) will be sent again" in again.stdout, again.stderr
        hub.settle(sync)
    finally:
        sync.close()
        sync._log.close()  # type: ignore[attr-defined]
    assert set(hub.portal.store.results) == {e.payload["result_code"] for e in made}
    time.sleep(1.0)
    assert "10 synced" in run_to_end(["results", "status"], env).stdout
    assert "results-sync: results 10 synced" in run_to_end(["policies", "status"], env).stdout


@pytest.mark.parametrize("results_hub", [(PortalFaults(), "sqlite")], indirect=True)
def test_a_read_store_rebuilt_from_the_log_sends_no_result_again(results_hub: ResultsHub, tmp_path: Path) -> None:
    hub = results_hub
    hub.add(20)
    sync = hub.policy()
    try:
        hub.settle(sync)
    finally:
        sync.close()
        sync._log.close()  # type: ignore[attr-defined]
    before = sum(hub.portal.store.uploads.values())
    fresh = f"sqlite:///{tmp_path}/restored.sqlite3"
    hub.settings = hub.settings.model_copy(update={"database_url": fresh})
    again = hub.policy()
    try:
        assert again.tick() == 0 and again.counters["held_ticks"] == 1, "read models not built yet: nothing is sent"
        with Projector(hub.settings, fresh) as projector:
            deadline = time.monotonic() + 60
            while projector.records < len(read_log(hub.settings, quiet_s=0.5)):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert again.tick() == 0, "every result's ResultSynced is in the log: nothing to send"
    finally:
        again.close()
        again._log.close()  # type: ignore[attr-defined]
    assert sum(hub.portal.store.uploads.values()) == before
