"""`hub demo` as a newcomer runs it: every part up on loopback, the API showing dossiers from both
running connectors within a bounded time, the dashboard rendering in headless Chromium (Debian's
chromium) with a dossier's timeline, and Ctrl-C leaving no process behind."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from simulators.local.free_ports import free_port
from tests.support.processes import HUB

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _session_processes(sid: int) -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if line.split()[1] == str(sid)]


def _get(url: str, key: str) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./dev pytest installs it)")
def test_demo_runs_everything_until_ctrl_c_and_the_dashboard_shows_a_timeline(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    port = free_port()
    demo = subprocess.Popen(
        [HUB, "demo", "--port", str(port), "--data", str(tmp_path / "demo"), "--dossiers", "600", "--speed", "2400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own session: every process it starts can be found afterwards
    )
    output: list[str] = []
    try:
        assert demo.stdout is not None
        started = time.monotonic()
        while not any(line.startswith("dashboard: ") for line in output):
            line = demo.stdout.readline()
            assert line, f"demo ended early: {''.join(output)}"
            output.append(line)
            assert time.monotonic() - started < 120, "".join(output)
        url = next(line for line in output if line.startswith("dashboard: ")).split()[1]
        key = re.search(r"#key=([\w-]+)", url)[1]  # type: ignore[index]
        base = f"http://127.0.0.1:{port}"

        deadline = time.monotonic() + 150
        while True:
            connectors = {
                c["name"]: c["counters"]["events_produced"]
                for c in _get(f"{base}/api/v1/connectors", key)["connectors"]
            }
            if connectors.get("onestop", 0) > 0 and connectors.get("dvcqg", 0) > 0:
                found = _get(f"{base}/api/v1/dossiers?limit=200", key)
                busy = [d for d in found["items"] if d["event_count"] >= 3]
                if busy:
                    break
            assert time.monotonic() < deadline, f"no dossiers from both connectors in time: {connectors}"
            time.sleep(2)
        waited = time.monotonic() - started
        print(f"\ndemo: the API had dossiers from both connectors {waited:.0f} s after start: {connectors}")
        code = busy[0]["dossier_code"]
        events = _get(f"{base}/api/v1/dossiers/{code}/timeline", key)["events"]

        dom = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=20000", "--dump-dom",
                f"{base}/#key={key}&dossier={code}",
            ],
            capture_output=True, text=True, timeout=120, check=False,
        ).stdout  # fmt: skip
        assert 'data-loaded="yes"' in dom, dom[-2000:]
        assert 'id="error" style="display: none;"' in dom or 'id="error"></div>' in dom, dom[-2000:]
        timeline = dom.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
        assert timeline.count("<li>") >= len(events) >= 3  # the demo is live: more may have come since
        assert "Tổng số phải giải quyết" in dom and "Tình trạng kết nối" in dom
        summaries = [e["summary_vi"] for e in events]
        assert all(s.split(":")[0] in timeline for s in summaries), summaries
        log_bytes = _everything_on_the_broker(next(line for line in output if line.startswith("broker: ")).split()[-1])
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            demo.wait(timeout=60)  # what it prints while stopping is a few lines: the pipe does not fill
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        # Read through the text stream: communicate() would read the pipe beneath it and lose what
        # readline() above had already buffered (the line with the operator key, printed right after).
        output.append(demo.stdout.read() if demo.stdout else "")
    assert demo.returncode == 0, "".join(output)
    assert "stopped; read store and logs kept" in "".join(output)
    time.sleep(0.5)
    assert _session_processes(demo.pid) == [], "Ctrl-C must leave no process behind"

    # Nothing the run produced holds a citizen's raw identity number or an API key: every topic on the
    # broker, every log, the read store, what the demo printed (bar the keys it hands the user).
    assert (tmp_path / "demo" / "monitor").is_dir(), "the monitor's faust files stay in the demo's directory"
    produced = {"topics": log_bytes, "printed": "".join(output).replace(key, "").encode()}
    operator = re.search(r"X-API-Key \S+ viewer, (\S+) operator", "".join(output))[1]  # type: ignore[index]
    for path in (tmp_path / "demo").rglob("*"):
        if path.is_file():
            produced[str(path.relative_to(tmp_path))] = path.read_bytes()
    raw = _raw_identities(600)
    for name, data in produced.items():
        found = {m.decode() for m in re.findall(rb"(?<![0-9])[0-9]{9,12}(?![0-9])", data)} & raw
        assert not found, f"raw identity numbers in {name}: {sorted(found)[:5]}"
        if name != "printed":
            assert key.encode() not in data and operator.encode() not in data, f"an API key in {name}"
    size = sum(map(len, produced.values()))
    print(f"demo: {size:,} bytes produced (topics, logs, read store) hold none of {len(raw)} raw identity numbers")


def _raw_identities(dossiers: int) -> set[str]:
    from simulators.onestop.world import build_world

    world = build_world(dossiers, 2026)  # what `hub demo --dossiers N` simulates (seed 2026)
    return {str(v) for c in world.changes for k, v in c.record().items() if k in ("SoDinhDanh", "MaDinhDanh") and v}


def _everything_on_the_broker(bootstrap: str) -> bytes:
    """Keys, values and headers of every record of every topic (the embedded broker dies with the demo)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    chunks: list[bytes] = []
    try:
        partitions = [TopicPartition(t, p) for t in consumer.topics() for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        idle = time.monotonic()
        while time.monotonic() - idle < 3:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            for records in batch.values():
                idle = time.monotonic()
                for r in records:
                    chunks += [r.key or b"", r.value or b"", *(v or b"" for _, v in r.headers)]
    finally:
        consumer.close()
    assert chunks, "the broker held records"
    return b"\n".join(chunks)
