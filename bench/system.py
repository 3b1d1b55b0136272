"""The whole hub under faults: ``python -m bench.system [--dossiers N] [--rate R] [--scenario S]``.

Runs every hub process on loopback against a generated province (simulators/province/harness.py), injects the
scenario's faults (none, kafka, postgres, kill, simulators, all), compares everything the hub holds with
the ground truth and with what each simulated system received, and prints: events processed, lost,
duplicated, dead-lettered with reasons, forged callbacks rejected / sent, recovery time per fault,
end-to-end latency p50/p99 at the steady rate, and peak RSS per process. The last line is one JSON
object of these figures; the exit code is 1 when the hub broke a promise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from simulators.province.faults import SCENARIOS
from simulators.province.harness import RunConfig, run_system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="upstream records revealed per second")
    parser.add_argument("--scenario", choices=SCENARIOS, default="all")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--settle-timeout", type=float, default=900.0, help="seconds allowed after the traffic")
    parser.add_argument("--workdir", type=Path, help="where the hub's logs go (default: a temporary directory)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hub-system-"))
    config = RunConfig(dossiers=args.dossiers, rate=args.rate, scenario=args.scenario, seed=args.seed)
    config.settle_timeout_s = args.settle_timeout
    report = run_system(config, workdir, echo=lambda line: print(line, flush=True))
    figures = report.figures
    print(
        f"\nevents processed {figures['events_processed']}, lost {figures['events_lost']}, "
        f"duplicates {figures['duplicates']} {figures.get('duplicates_by_kind') or ''}"
    )
    print(f"dead-lettered {figures['dead_lettered']}: {figures['dead_letter_reasons']}")
    print(f"forged callbacks: {figures['forged_callbacks']}")
    print(f"latency: {figures['latency']}")
    for fault in figures["recovery_s"]:
        print(f"  {fault['fault']}: recovered in {fault['recovery_s']} s")
    print(f"peak RSS (MB): {figures['peak_rss_mb']}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print(json.dumps(json.loads(report.json_line()), ensure_ascii=False))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
