"""``hub projections run|status|rebuild`` from the command line, against a real broker and SQLite."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from hub.settings import Settings
from projections.registry import projection
from simulators.province.read_back import fresh_topic, publish
from simulators.synthetic import province_events
from tests.support.processes import run_hub

STATE_VERSION = projection("dossier_state").version
TIMELINE_VERSION = projection("timeline").version


def test_run_status_rebuild_status(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = fresh_topic(kafka_settings)
    publish(settings, province_events(1500, seed=11))
    db = tmp_path / "hub.sqlite3"
    env = {"HUB_DATABASE_URL": f"sqlite:///{db}", "HUB_KAFKA_SESSION_TIMEOUT_MS": "6000"}

    ran = run_hub(settings, "projections", "run", "--idle-exit", "3", env=env)
    assert ran.returncode == 0, ran.stderr
    # Every event applied once. The consumer may be given records again (a CI run read all 1,500 twice
    # after a second assignment): those must count as already applied, never applied again.
    summary = re.search(
        r"(\d+) records: (\d+) applied, (\d+) already applied, (\d+) parked \(\d+/s; last batch [\d.]+ s ago\)",
        ran.stdout,
    )
    assert summary, ran.stdout
    records, applied, already, parked = map(int, summary.groups())
    assert (applied, parked) == (1500, 0) and records == applied + already, ran.stdout

    status = run_hub(settings, "projections", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert f"timeline: generation 1 (v{TIMELINE_VERSION}); applied through 1500 records" in status.stdout
    assert f"dossier_state: generation 1 (v{STATE_VERSION}); applied through 1500 records" in status.stdout

    rebuilt = run_hub(settings, "projections", "rebuild", "dossier_state", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "dossier_state: generation 2 is live: 1500 records replayed" in rebuilt.stdout
    assert "rebuilding dossier_state g2" in rebuilt.stderr, "progress goes to stderr"

    status = run_hub(settings, "projections", "status", env=env)
    assert f"dossier_state: generation 2 (v{STATE_VERSION}); applied through 1500 records" in status.stdout

    with sqlite3.connect(db) as conn:
        timeline = conn.execute("SELECT count(*), count(DISTINCT dossier_code) FROM v_timeline").fetchone()
        dossiers = conn.execute("SELECT count(*), sum(event_count) FROM v_dossier").fetchone()
        first = conn.execute(
            "SELECT summary_vi, occurred_at_local FROM v_timeline ORDER BY occurred_at, type_rank, event_id LIMIT 1"
        ).fetchone()
    assert timeline[0] == 1500 and dossiers == (timeline[1], 1500)
    assert first[0].startswith("Nộp hồ sơ") and first[1].startswith("2026-01-05 07:")

    # Tables of an older shape (a hub upgraded in place) are refused with the way out, not written to.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE hub_projections SET active_version = 1 WHERE name = 'timeline'")
    old = run_hub(settings, "projections", "run", "--idle-exit", "3", env=env)
    assert old.returncode == 2 and "run `hub projections rebuild timeline`" in old.stderr


def test_standalone_partitions_need_standalone(kafka_settings: Settings, tmp_path: Path) -> None:
    done = run_hub(
        kafka_settings,
        "projections",
        "run",
        "--partitions",
        "0,1",
        env={"HUB_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"},
    )
    assert done.returncode == 2 and "--partitions needs --standalone" in done.stderr
