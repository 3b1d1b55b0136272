"""The whole hub under every fault at once, at a reduced scale: every process `hub demo` runs,
against a generated province, with Kafka cut twice, PostgreSQL stopped twice, each hub process killed
with SIGKILL once, and every simulator's faults at twice their realistic rates. Full scale and each fault
in its own scenario: `python -m bench.system --scenario ...` (figures in the closing note)."""

from __future__ import annotations

import json
from pathlib import Path

from hub.cli.demo.live import HUB_PROCESSES
from simulators.province.harness import RunConfig, run_system


def test_the_whole_hub_loses_nothing_duplicates_nothing_and_lets_no_forgery_in_under_every_fault(
    tmp_path: Path,
) -> None:
    report = run_system(RunConfig(dossiers=250, rate=80, scenario="all", settle_timeout_s=420), tmp_path)
    f = report.figures
    print(report.json_line())  # the figures behind the closing note (pytest -s)
    assert f["settled"], "the hub did not come to rest after the traffic and the faults"
    assert report.problems == []
    assert f["identity_numbers_in_free_text"] > 0 and f["identity_leaks"] == {}, "typed into notes, masked everywhere"
    assert f["events_lost"] == 0 and f["duplicates"] == 0 and f["rows_differing_from_clean_pass"] == 0
    assert f["events_processed"] > f["upstream_events_expected"] > 1800
    # Each fault happened and was recovered from with no operator: every process was killed once and
    # started again by its supervisor; the outages made processes exit (crash-only) and come back.
    assert len(f["recovery_s"]) == len(HUB_PROCESSES) + 4
    assert all(r["recovery_s"] is not None for r in f["recovery_s"])
    assert set(f["restarts"]) == set(HUB_PROCESSES)
    # Malformed upstream records are dead-lettered with their reasons, each one (checked by verify).
    assert f["malformed_records"] > 0 and f["dead_letter_reasons"]
    # Forged callbacks were sent and none was accepted; those the endpoint received it refused.
    forged = f["forged_callbacks"]
    assert forged["sent"] > 0 and forged["accepted"] == 0 and forged["rejected"] > 0
    assert forged["rejected"] + forged["undelivered"] == forged["sent"]
    # The simulators' faults really fired.
    sims = f["simulator_faults"]
    # (At this scale PayGov sees ~40 calls: any one kind may by chance not fire, so its kinds count together.)
    paygov_faults = sum(sims["paygov"].get(kind, 0) for kind in ("http500", "timeout", "ipn_lost"))
    assert sims["onestop"].get("timeout") and sims["dvcqg"].get("corrupted_uploads") and paygov_faults
    assert json.loads(report.json_line())["events_lost"] == 0
