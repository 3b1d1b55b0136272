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

from hub.local.ports import free_port
from tests.integration.helpers import HUB

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
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            rest, _ = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            rest, _ = demo.communicate()
        output.append(rest or "")
    assert demo.returncode == 0, "".join(output)
    assert "stopped; read store and logs kept" in "".join(output)
    time.sleep(0.5)
    assert _session_processes(demo.pid) == [], "Ctrl-C must leave no process behind"
