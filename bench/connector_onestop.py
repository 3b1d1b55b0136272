"""Records/s from the one-stop simulator (SOAP) to events acknowledged by the broker.

    ./dev python bench/connector_onestop.py [--dossiers 2000] [--page 500] [--faults none|realistic]
        [--parallel 8] [--latency-ms N]

``--latency-ms`` sets the simulator's answer time (a one-stop across the province's network rather
than on loopback); ``--parallel`` is HUB_ONESTOP_PARALLEL_CALLS.

Starts the embedded broker and the simulator on loopback, runs the connector until the feed is
drained, and prints the figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid

from pydantic import SecretStr

from connectors.onestop.client import OnestopUpstream
from hub.bootstrap import make_connector_runner, make_log
from hub.log.kafka_log import TopicSpec, ensure_topics
from hub.settings import Settings
from simulators.local.tansu import EmbeddedBroker
from simulators.onestop.simulator import Faults, OnestopSimulator
from simulators.onestop.world import build_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--faults", choices=["none", "realistic"], default="none")
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=None)
    args = parser.parse_args()
    world = build_world(args.dossiers, seed=99)
    faults = Faults.realistic() if args.faults == "realistic" else Faults()
    if args.latency_ms is not None:
        faults.latency_ms = args.latency_ms
    with EmbeddedBroker() as broker, OnestopSimulator(world, faults) as sim, tempfile.TemporaryDirectory() as tmp:
        suffix = uuid.uuid4().hex[:8]
        settings = Settings(
            kafka_bootstrap=broker.bootstrap,
            dossier_topic=f"bench.events.{suffix}",
            dead_letter_topic=f"bench.dlq.{suffix}",
            identity_key=SecretStr("bench-identity-key-1"),
            database_url=f"sqlite:///{tmp}/hub.sqlite3",
            onestop_url=sim.url,
            connector_page_size=args.page,
        )
        ensure_topics(settings, [TopicSpec(settings.dossier_topic, 12, 1), TopicSpec(settings.dead_letter_topic, 1, 1)])
        log = make_log(settings)
        upstream = OnestopUpstream(
            sim.url, settings.identity_key_bytes(), timeout_s=settings.onestop_timeout_s, parallel_calls=args.parallel
        )
        runner = make_connector_runner(upstream, settings, log)
        started = time.perf_counter()
        state = runner.run(idle_exit_s=0)
        elapsed = time.perf_counter() - started
        log.close()
        requests = sim.requests
    c = state.counters
    figures = {
        "records": c["records_read"],
        "records_per_s": round(c["records_read"] / elapsed),
        "events_per_s": round(c["events_produced"] / elapsed),
        "soap_calls": requests,
        "parked": c["parked"],
        "faults": args.faults,
        "parallel_calls": args.parallel,
        "latency_ms": faults.latency_ms,
    }
    print(
        f"{c['records_read']:,} change records from {args.dossiers:,} dossiers in {elapsed:.1f}s "
        f"over {requests} SOAP calls"
    )
    print(
        f"{figures['records_per_s']:,} records/s read, {figures['events_per_s']:,} events/s acknowledged, "
        f"{c['parked']} parked, {c['retries']} retries (faults: {args.faults})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
