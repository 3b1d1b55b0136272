"""The national status mirror and divergence detection, over real sockets, the real broker and SQLite.

Dossiers come from the one-stop simulator through the one-stop connector; the read models are
built by the projection runner; the mirror sends to the DVCQG simulator, whose state is compared
with the hub's dossier state and timeline, and with the one-stop world's ground truth.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.dvcqg.client import DvcqgClient
from connectors.dvcqg.mirror.payload import step_key
from connectors.dvcqg.mirror.policy import NationalMirror
from connectors.dvcqg.mirror.reconcile import ReconcileReport, RollingReconcile, reconcile
from hub.bootstrap import make_log, national_mirror, rebuild
from hub.domain.dossier_fold import STEP_TYPES
from hub.log.kafka_log import KafkaEventLog
from hub.settings import Settings
from projections.registry import projection
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import build_portal_world
from simulators.onestop.simulator import OnestopSimulator
from simulators.onestop.world import CHANGE_KINDS, World, build_world
from simulators.province.read_back import project, timeline_steps
from tests.support.onestop import connector_settings, make_runner
from tests.support.processes import hub_env, run_to_end

STEP_KINDS = {kind for kind, event in CHANGE_KINDS.items() if event in {t.value for t in STEP_TYPES}}


class SpyClient(DvcqgClient):
    """The real client, remembering every step batch sent and the portal's answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.step_calls: list[tuple[list[dict[str, Any]], dict[str, Any] | None]] = []

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        reply = None
        try:
            reply = super().call(method, path, **kwargs)
            return reply
        finally:
            if path.endswith("CapNhatTienDoHoSoMC"):
                self.step_calls.append((kwargs["json"]["data"], reply))


@dataclass
class Hub:
    settings: Settings
    url: str
    mirror: NationalMirror
    log: KafkaEventLog
    consumed: int  # records the read models have consumed so far

    def settle(self, max_s: float = 300) -> None:
        """Mirror and project until the portal is told everything and the read models saw the outcomes."""
        deadline = time.monotonic() + max_s
        quiet = 0
        while quiet < 3 and time.monotonic() < deadline:
            before = sum(self.mirror.counters[k] for k in ("synced", "failed_attempts"))
            done = self.mirror.tick()
            appended = sum(self.mirror.counters[k] for k in ("synced", "failed_attempts")) - before
            if appended:
                self.consumed += project(self.settings, self.url, expected=appended).records
            quiet = 0 if done else quiet + 1
            if not done:
                time.sleep(0.3)  # backoffs are short in these tests

    def close(self) -> None:
        self.mirror.close()
        self.log.close()


def start_hub(
    kafka_settings: Settings, tmp_path: Path, world: World, portal: PortalSimulator, client_timeout_s: float = 5
) -> Hub:
    """One-stop records -> events -> read models, and a mirror aimed at ``portal``."""
    with OnestopSimulator(world) as onestop:
        settings = connector_settings(kafka_settings, onestop, tmp_path)
        runner, log = make_runner(settings)
        runner.run(idle_exit_s=0.5)
        log.close()
    url = f"sqlite:///{tmp_path}/read.sqlite3"
    settings = settings.model_copy(
        update={
            "database_url": url,
            **portal.hub_settings(),
            "dvcqg_timeout_s": client_timeout_s,
            "dvcqg_mirror_retry_base_s": 0.05,
            "dvcqg_mirror_retry_max_s": 0.2,
            "dvcqg_mirror_max_attempts": 100,
        }
    )
    consumed = project(settings, url, expected=len(world.expected())).records
    log = make_log(settings)
    mirror = national_mirror(settings, log)
    mirror.client = SpyClient(
        portal.url, portal.client_id, portal.client_secret, timeout_s=client_timeout_s
    )  # same client, watched
    return Hub(settings, url, mirror, log, consumed)


def rows(url: str, query: str) -> list[Any]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.exec_driver_sql(query))
    engine.dispose()
    return found


def test_2000_dossiers_are_mirrored_exactly_despite_faults_and_expiring_tokens(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    world = build_world(2000, seed=71)
    faults = PortalFaults.realistic()
    faults.revoke_rate, faults.partial_batch_rate, faults.timeout_s = 0.03, 0.1, 0.5
    with PortalSimulator(build_portal_world(world), faults, token_ttl_s=2.0) as portal:
        hub = start_hub(kafka_settings, tmp_path, world, portal, client_timeout_s=0.25)
        try:
            hub.settle()
        finally:
            hub.close()
        state = portal.state
        counts = dict(state.counts)
    dossiers = {r.dossier_code: r for r in rows(hub.url, "SELECT * FROM v_dossier")}
    ready = {code for code, r in dossiers.items() if r.procedure_code and (r.submitted_at or r.received_at)}
    assert len(ready) >= 1990, "all but the few dossiers whose submission record was malformed on purpose"
    assert set(state.dossiers) == ready
    for code in ready:
        assert state.dossiers[code]["TrangThaiHoSo"] == dossiers[code].national_status, code
        assert dossiers[code].mirror_version == dossiers[code].portal_version and not dossiers[code].mirror_pending
    # Steps: exactly the timeline's, and as many as the one-stop's valid records of those kinds.
    expected = timeline_steps(hub.url)
    truth = Counter(c.dossier for c in world.changes if c.kind in STEP_KINDS and c.malformed is None)
    for code in ready:
        held = Counter(step_key(s) for s in state.steps.get(code, []))
        assert held == expected.get(code, Counter()), f"{code}: portal steps differ from the timeline"
        assert sum(held.values()) == truth[code], code
    # The faults really happened, and were ridden out.
    assert counts["timeout"] > 0 and counts["http500"] > 0 and counts["partial"] > 0 and counts["revoked"] > 0
    assert hub.mirror.counters["failed_attempts"] > 0 and hub.mirror.counters["partial_batches"] > 0
    spy = hub.mirror.client
    assert isinstance(spy, SpyClient) and spy.renewals > 1, "expired and revoked tokens were renewed"
    # The mirror's outcomes are on the timeline.
    synced = rows(
        hub.url, "SELECT count(DISTINCT dossier_code) FROM v_timeline WHERE event_type = 'NationalStatusSynced'"
    )
    failed = rows(hub.url, "SELECT count(*) FROM v_timeline WHERE event_type = 'NationalSyncFailed'")
    assert synced[0][0] == len(ready) and failed[0][0] == hub.mirror.counters["failed_attempts"]


def test_a_partly_failed_batch_resends_only_the_failed_steps(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_world(150, seed=72, malformed_rate=0)
    faults = PortalFaults(partial_batch_rate=0.3)
    with PortalSimulator(build_portal_world(world), faults) as portal:
        hub = start_hub(kafka_settings, tmp_path, world, portal)
        try:
            hub.settle()
        finally:
            hub.close()
        held = {code: len(steps) for code, steps in portal.state.steps.items()}
    spy = hub.mirror.client
    assert isinstance(spy, SpyClient)
    sent = sum(len(batch) for batch, _ in spy.step_calls)
    failed = sum(len(reply["failed"]) for _, reply in spy.step_calls if reply and reply["error_code"] == "1")
    assert failed > 0
    assert sent == sum(held.values()) + failed, "every step sent once, plus once more per failure, nothing else"
    assert max(len(batch) for batch, _ in spy.step_calls) == 10, "batches are filled up to the portal's limit"


def test_a_mirror_killed_between_its_calls_and_saving_them_changes_nothing_more(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    world = build_world(60, seed=75, malformed_rate=0)
    with PortalSimulator(build_portal_world(world)) as portal:
        hub = start_hub(kafka_settings, tmp_path, world, portal)
        try:
            assert hub.mirror.guard.live()
            lost = hub.mirror.store.pending(100, max_attempts=1)
            for work in lost:  # the calls are made; the process dies before events and memory are saved
                hub.mirror.sync(work)
            told = {code: len(steps) for code, steps in portal.state.steps.items()}
            hub.settle()
        finally:
            hub.close()
        counts = dict(portal.state.counts)
        held = {code: len(steps) for code, steps in portal.state.steps.items()}
    assert held == told and sum(held.values()) > 0, "the second run re-sent nothing the portal had"
    assert counts["replayed_keys"] >= len(lost), "it asked again under the same keys and got the first answers"
    assert counts["inserts"] == len(lost) and counts.get("updates", 0) == 0


def test_rebuilding_or_replaying_the_read_models_sends_nothing(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_world(200, seed=73, malformed_rate=0)
    with PortalSimulator(build_portal_world(world)) as portal:
        hub = start_hub(kafka_settings, tmp_path, world, portal)
        try:
            hub.settle()
            calls = dict(portal.state.counts)
            steps = {code: list(s) for code, s in portal.state.steps.items()}
            for name in ("dossier_state", "timeline"):  # rebuilt from the log into generation 2, then swapped
                assert rebuild(hub.settings, projection(name))[0] == 2
            assert hub.mirror.tick() == 0 and dict(portal.state.counts) == calls
            # The read models are restored empty (and the mirror's memory with them); its marks survive.
            engine = sa.create_engine(hub.url)
            with engine.begin() as conn:
                for table in ("hub_projection_offsets", "hub_dvcqg_mirror", "dossier_state_g2", "timeline_g2"):
                    conn.exec_driver_sql(f"DELETE FROM {table}")
            engine.dispose()
            first = project(hub.settings, hub.url, expected=hub.consumed // 2, batch=50).records
            assert hub.mirror.tick() == 0 and hub.mirror.counters["held_ticks"] == 1, "replaying: held"
            project(hub.settings, hub.url, expected=hub.consumed - first)
            assert hub.mirror.tick() == 0, "caught up: the log says every dossier was mirrored"
        finally:
            hub.close()
        assert dict(portal.state.counts) == calls and portal.state.steps == steps


def test_corrupted_statuses_are_detected_reported_and_repaired(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_world(300, seed=74, malformed_rate=0)
    with PortalSimulator(build_portal_world(world), PortalFaults(corrupt_statuses=True)) as portal:
        hub = start_hub(kafka_settings, tmp_path, world, portal)
        try:
            hub.settle()
            corrupted = {code for code, d in portal.state.dossiers.items() if d["TrangThaiHoSo"] == 9} - {
                r[0] for r in rows(hub.url, "SELECT dossier_code FROM v_dossier WHERE national_status = 9")
            }
            assert corrupted, "this world has dossiers waiting at 5, 6 or 8"
            # The portal keeps corrupting: a repair is reported as not kept.
            still = reconcile(hub.mirror)
            assert still.divergent == len(corrupted) and still.repaired == 0
            assert still.repair_failed == len(corrupted)
            # The running mirror checks the same a page per call, mirroring in between (RollingReconcile).
            now, rounds, checked = [0.0], list[ReconcileReport](), list[int]()
            rolling = RollingReconcile(hub.mirror, 60, rounds.append, page=40, clock=lambda: now[0])
            rolling()
            assert rolling.report is None and not rounds, "nothing before its period"
            now[0] = 61
            while not rounds:
                rolling()
                checked.append(rolling.report.checked if rolling.report else rounds[0].checked)
                assert hub.mirror.tick() == 0  # the mirror's own passes run between pages
            assert all(b - a <= 40 for a, b in itertools.pairwise([0, *checked]))
            assert len(checked) == -(-still.checked // 40) + 1  # the last call finds the end
            assert rounds[0].summary() == still.summary()
            rolling()
            assert rolling.report is None and len(rounds) == 1, "the next round waits for the period again"
            portal.faults.corrupt_statuses = False
            env = hub_env(
                hub.settings,
                database_url=hub.url,
                **portal.hub_settings(),
            )
            done = run_to_end(["reconcile", "dvcqg", "--json"], env)
            assert done.returncode == 0, done.stdout
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            assert summary["divergent"] == summary["repaired"] == len(corrupted)
            assert summary["by_rule"] == {"status-reported-as-9": len(corrupted)}
            assert all("portal=9" in line for line in done.stdout.splitlines()[:-1])
            hub.consumed += project(hub.settings, hub.url, expected=4 * len(corrupted)).records
            clean = run_to_end(["reconcile", "dvcqg", "--json"], env)
            assert clean.returncode == 0 and json.loads(clean.stdout.strip())["divergent"] == 0
        finally:
            hub.close()
    hub_status = {r[0]: r[1] for r in rows(hub.url, "SELECT dossier_code, national_status FROM v_dossier")}
    assert all(portal.state.dossiers[code]["TrangThaiHoSo"] == hub_status[code] for code in corrupted)
    flagged = rows(hub.url, "SELECT dossier_code, divergences, last_divergence FROM v_dossier WHERE divergences > 0")
    assert {r[0] for r in flagged} == corrupted
    assert all(json.loads(r[2])["rule"] == "status-reported-as-9" for r in flagged)


def test_the_mirror_runs_from_the_command_line(kafka_settings: Settings, tmp_path: Path) -> None:
    world = build_world(100, seed=76, malformed_rate=0)
    with PortalSimulator(build_portal_world(world)) as portal:
        hub = start_hub(kafka_settings, tmp_path, world, portal)
        hub.close()
        env = hub_env(
            hub.settings,
            database_url=hub.url,
            **portal.hub_settings(),
        )
        done = run_to_end(["policies", "run", "dvcqg-mirror", "--idle-exit", "2", "--reconcile-every", "1"], env)
        status = run_to_end(["policies", "status"], env)
        held = set(portal.state.dossiers)
    assert done.returncode == 0, done.stderr
    assert "synced=100" in done.stdout and "reconcile {" in done.stderr, "the periodic check ran beside it"
    assert held == {r[0] for r in rows(hub.url, "SELECT dossier_code FROM v_dossier")}
    assert "dvcqg-mirror: 100 dossiers tracked" in status.stdout
