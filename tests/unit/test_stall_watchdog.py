"""The stall watchdog ends a process whose consumer loop stopped coming round, or that was asked to
stop and cannot, with exit code 75 for its supervisor; a beating loop lives on."""

from __future__ import annotations

import subprocess
import sys
import time

from hub.runtime.stall_watchdog import EXIT_STALLED

SCRIPT = """
import sys, time
from hub.runtime.stall_watchdog import StallWatchdog
mode = sys.argv[1]
dog = StallWatchdog(0.5, "test loop", stopping=lambda: mode == "asked-to-stop", grace_s=0.5).start()
for _ in range(40):  # 4 s
    if mode == "beating":
        dog.beat()
    time.sleep(0.1)
print("alive")
"""


def _run(mode: str) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, time.monotonic() - started, done.stdout + done.stderr


def test_a_stalled_loop_is_ended_for_its_supervisor_and_a_beating_one_lives() -> None:
    code, took, said = _run("stalled")
    assert code == EXIT_STALLED and took < 3.5 and "HUB_KAFKA_STALL_EXIT_S" in said, said
    code, took, said = _run("asked-to-stop")
    assert code == EXIT_STALLED and took < 3.5 and "did not stop" in said, said
    code, _, said = _run("beating")
    assert code == 0 and "alive" in said, said
