"""``hub policies run`` started before ``hub projections run``: it waits for the projections' tables,
says so, and starts once they exist (it used to exit 2 and rely on a supervisor's restarts)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from hub.bootstrap import make_engine
from hub.settings import Settings
from hub.store.projection_store import activate_first_generation
from projections.registry import projection
from simulators.province.read_back import fresh_topic
from tests.support.processes import HUB, hub_env


def test_a_policy_waits_for_the_projection_tables_then_runs(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = fresh_topic(kafka_settings)
    url = f"sqlite:///{tmp_path}/hub.sqlite3"
    env = hub_env(settings, database_url=url, paygov_secret="pay-secret", identity_key="e2e-identity-key-0123456789")
    child = subprocess.Popen(
        [HUB, "policies", "run", "paygov-payments", "--idle-exit", "2"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    try:
        waiting = child.stderr.readline()
        assert "waiting for `hub projections run` to create the tables of payments" in waiting, waiting
        time.sleep(2)
        assert child.poll() is None, "the policy gave up instead of waiting"
        activate_first_generation(
            make_engine(settings.model_copy(update={"database_url": url})), projection("payments")
        )
        out = child.stderr.read()
        assert child.wait(timeout=60) == 0, out
    finally:
        if child.poll() is None:
            child.kill()
    assert "paygov-payments: starts a PayGov payment" in out and "waiting" not in out, out
