"""``hub connectors list|run|status|reset-cursor`` from the command line, against the simulator."""

from __future__ import annotations

from pathlib import Path

from hub.settings import Settings
from simulators.onestop.simulator import OnestopSimulator
from simulators.onestop.world import build_world
from simulators.province.read_back import fresh_topic
from tests.support.processes import run_hub


def test_list_run_status_and_reset(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = fresh_topic(kafka_settings)
    world = build_world(80, seed=12, malformed_rate=0.03)
    with OnestopSimulator(world) as sim:
        env = {"HUB_DATABASE_URL": f"sqlite:///{tmp_path}/hub.sqlite3", "HUB_ONESTOP_URL": sim.url}
        listed = run_hub(settings, "connectors", "list", env=env)
        assert listed.returncode == 0 and listed.stdout.split()[:2] == ["onestop", sim.url]

        before = run_hub(settings, "connectors", "status", env=env)
        assert "onestop: never run" in before.stdout

        ran = run_hub(settings, "connectors", "run", "onestop", "--idle-exit", "0.5", env=env)
        assert ran.returncode == 0, ran.stderr
        total, bad = len(world.changes), len(world.malformed())
        assert f"onestop: cursor {total}; {total} records read, {total - bad} events, {bad} parked" in ran.stdout

        status = run_hub(settings, "connectors", "status", env=env)
        assert f"onestop: cursor {total} breaker closed" in status.stdout
        assert f"records_read={total}" in status.stdout and f"parked={bad}" in status.stdout

        reset = run_hub(settings, "connectors", "reset-cursor", "onestop", "--to", "10", env=env)
        assert f"onestop: cursor {total} -> 10" in reset.stdout
        again = run_hub(settings, "connectors", "run", "onestop", "--idle-exit", "0.5", env=env)
        assert f"onestop: cursor {total}; {total - 10} records read" in again.stdout

        unknown = run_hub(settings, "connectors", "run", "paygov", env=env)
        assert unknown.returncode == 2 and "unknown connector 'paygov'" in unknown.stderr
