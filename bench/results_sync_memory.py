"""Peak memory of the results sync while it streams one large result file to the national store.

    ./dev python bench/results_sync_memory.py [--mb 50]

Starts the embedded broker, the one-stop simulator (the file's source) and the DVCQG simulator
(the national store) on loopback, publishes one ResultDigitised, projects it, then runs
`hub policies run results-sync` as a process and samples its peak RSS (VmHWM). It does this twice:
with a 10 KB file (the baseline: interpreter, libraries, clients) and with a ``--mb`` file; the
growth is the difference. Goal: streaming holds memory, so a 50 MB file grows the peak by less than 20 MB. The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import SecretStr

from hub.bootstrap import make_engine, make_log, make_projection_runner
from hub.log.kafka_log import TopicSpec, ensure_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.settings import Settings
from hub.store.projection_store import activate_first_generation
from projections.registry import PROJECTIONS
from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
from simulators.dvcqg.world import PortalWorld
from simulators.local.tansu import EmbeddedBroker
from simulators.onestop.simulator import OnestopSimulator
from simulators.onestop.world import DigitisedFile, World
from simulators.synthetic import digitised_result

HUB = str(Path(sys.executable).with_name("hub"))
KEY = "bench-identity-key-0123456789"


def _peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``hub ARGS`` to its end; (peak RSS in MB sampled from VmHWM, seconds)."""
    started = time.perf_counter()
    child = subprocess.Popen([HUB, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    if child.returncode != 0:
        raise SystemExit(f"hub {' '.join(args)} failed: {child.stderr.read() if child.stderr else ''}")
    return peak / 1024, time.perf_counter() - started


def run(size: int, broker: str, portal: PortalSimulator, source: OnestopSimulator, tmp: str) -> tuple[float, float]:
    code = f"KQ-{size}-{uuid.uuid4().hex[:6]}"
    content = (uuid.uuid4().bytes * (size // 16 + 1))[:size]
    source.world.files[code] = DigitisedFile(code, content)
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=broker,
        dossier_topic=f"bench.events.{suffix}",
        dead_letter_topic=f"bench.dlq.{suffix}",
        identity_key=SecretStr(KEY),
        database_url=f"sqlite:///{tmp}/{suffix}.sqlite3",
    )
    ensure_topics(settings, [TopicSpec(settings.dossier_topic, 1, 1), TopicSpec(settings.dead_letter_topic, 1, 1)])
    log = make_log(settings)
    log.append([digitised_result(code, 1, f"{source.url}/tep/{code}", content, KEY.encode())])
    engine = make_engine(settings)
    chosen = [PROJECTIONS["results"]]
    for p in chosen:
        activate_first_generation(engine, p)
    runner = make_projection_runner(settings, log, engine, chosen, name="bench")
    records = KafkaRecordSource(settings, [settings.dossier_topic])
    runner.seek(records, sorted(records.assignment()))
    runner.run(records, commit_to_kafka=False, should_stop=lambda: runner.totals.records >= 1)
    records.close()
    log.close()
    env = {
        **os.environ,
        "HUB_KAFKA_BOOTSTRAP": broker,
        "HUB_DOSSIER_TOPIC": settings.dossier_topic,
        "HUB_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "HUB_DATABASE_URL": settings.database_url,
        "HUB_IDENTITY_KEY": KEY,
        "HUB_DVCQG_URL": portal.url,
        "HUB_DVCQG_CLIENT_ID": portal.client_id,
        "HUB_DVCQG_CLIENT_SECRET": portal.client_secret,
        "HUB_ONESTOP_URL": source.url,
    }
    peak, seconds = _peak_rss_mb(["policies", "run", "results-sync", "--idle-exit", "1", "--reconcile-every", "0"], env)
    stored = portal.store.results.get(code)
    if stored is None or portal.store.files[stored.file_id][1] != size:
        raise SystemExit(f"{code} did not reach the store intact")
    del source.world.files[code]
    engine.dispose()
    return peak, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    size = args.mb * 2**20
    with (
        EmbeddedBroker() as broker,
        PortalSimulator(PortalWorld(), PortalFaults()) as portal,
        OnestopSimulator(World(seed=1)) as source,
        tempfile.TemporaryDirectory() as tmp,
    ):
        small, _ = run(10_000, broker.bootstrap, portal, source, tmp)
        big, seconds = run(size, broker.bootstrap, portal, source, tmp)
    growth = big - small
    figures = {
        "file_mb": args.mb,
        "peak_rss_small_mb": round(small, 1),
        "peak_rss_large_mb": round(big, 1),
        "growth_mb": round(growth, 1),
        "goal_growth_mb": 20,
        "goal_met": growth < 20,
        "process_seconds": round(seconds, 2),
    }
    print(
        f"peak RSS of `hub policies run results-sync`: {small:.1f} MB with a 10 KB file, {big:.1f} MB with {args.mb} MB"
    )
    print(f"growth {growth:.1f} MB (goal < 20 MB); the run took {seconds:.1f} s, process start included")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
