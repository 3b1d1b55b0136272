"""The read API's memory under a loop of the heaviest requests a viewer key can make:
``python -m bench.api_memory [--events 30000] [--dead-letters 20000] [--seconds 30] [--no-budget]``.

Starts the embedded broker, publishes a generated province's events and projects them into SQLite,
parks dead letters of 1 KB each, then runs ``hub api serve`` in a child process and, with one viewer
key, asks again and again for the largest dead-letter page, a 36-month trend, the largest dossier page
and a dossier's state as of now. Prints the child's RSS before and after and its peak (VmHWM), and
how the requests were answered (200, or 429 once the key's budget is spent); the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from hub.bootstrap import make_log
from hub.log.dead_letters import DeadLetters
from hub.settings import Settings
from simulators.local.free_ports import free_port, wait_for_port
from simulators.local.tansu import EmbeddedBroker
from simulators.province.read_back import fresh_topic, project, publish
from simulators.synthetic import province_events

VIEWER = "bench-viewer-9f2c7d1e4b6a8c03"


def _memory_kb(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _park(settings: Settings, count: int) -> None:
    """``count`` dead letters of about 1 KB, parked as the connectors park unreadable upstream records."""
    log = make_log(settings)
    letters = DeadLetters(log, settings.dead_letter_topic)
    raw = b'{"MaHoSo": "junk", "NoiDung": "' + b"x" * 1000 + b'"}'
    for n in range(count):
        letters.park_upstream(raw, "bench: not a record", "bench", f"bench-{n}")
    log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--dead-letters", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--no-budget", action="store_true", help="lift the key's request budget (work per request only)"
    )
    args = parser.parse_args()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/read.sqlite3"
        settings = fresh_topic(
            Settings(kafka_bootstrap=broker.bootstrap, identity_key="bench-identity-key-0123456789", database_url=url)
        )
        events = list(province_events(args.events))
        publish(settings, events)
        project(settings, url, expected=len(events), timeout_s=600)
        _park(settings, args.dead_letters)
        port = free_port()
        env = {
            **os.environ,
            "HUB_KAFKA_BOOTSTRAP": broker.bootstrap,
            "HUB_DOSSIER_TOPIC": settings.dossier_topic,
            "HUB_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
            "HUB_DATABASE_URL": url,
            "HUB_API_KEYS": f"{VIEWER}=viewer",
            "HUB_IDENTITY_KEY": "bench-identity-key-0123456789",
            **({"HUB_API_RATE_PER_S": "100000", "HUB_API_BURST": "1000000"} if args.no_budget else {}),
        }
        hub = str(Path(sys.executable).with_name("hub"))
        child = subprocess.Popen([hub, "api", "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port, 30, alive=lambda: child.poll() is None)
            base, key = f"http://127.0.0.1:{port}", {"X-API-Key": VIEWER}
            before = _memory_kb(child.pid)
            code = events[-1].dossier_code
            heavy: list[tuple[str, dict[str, str | int]]] = [
                ("/api/v1/dead-letters", {"limit": 1000}),
                ("/api/v1/reports/trend", {"months": 36}),
                ("/api/v1/dossiers", {"limit": 500}),
                (f"/api/v1/dossiers/{code}/as-of", {"at": "2030-01-01T00:00:00+07:00"}),
            ]
            answers: Counter[str] = Counter()
            until = time.monotonic() + args.seconds
            with httpx.Client(base_url=base, headers=key, timeout=120) as client:
                while time.monotonic() < until:
                    for path, params in heavy:
                        answers[f"{path.split('/')[3]} {client.get(path, params=params).status_code}"] += 1
            after = _memory_kb(child.pid)
        finally:
            child.terminate()
            child.wait(timeout=30)
    figures = {
        "rss_mb_before": round(before["VmRSS"] / 1024, 1),
        "rss_mb_after": round(after["VmRSS"] / 1024, 1),
        "peak_rss_mb": round(after["VmHWM"] / 1024, 1),
        "answers": dict(sorted(answers.items())),
        "dead_letters": args.dead_letters,
        "events": len(events),
    }
    print(f"API RSS {figures['rss_mb_before']} MB -> {figures['rss_mb_after']} MB, peak {figures['peak_rss_mb']} MB")
    print(f"answers: {figures['answers']}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
