"""The supervisor says why a child exited: its log's last line, when it exited by itself."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hub.process.supervisor import Supervisor


def test_a_child_that_exits_by_itself_is_restarted_with_its_last_words(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(dict(os.environ), max_restarts=1, backoff_s=0.0, echo=said.append)
    child = supervisor.add("broken", ["no-such-command"], tmp_path / "broken.log")
    supervisor.start()
    assert child.process is not None
    child.process.wait(timeout=60)
    assert supervisor.tend() == [child]
    assert len(said) == 1
    assert said[0].startswith("broken exited with 2: ")
    assert "no-such-command" in said[0] and said[0].endswith(f"restart 1/1 (log {tmp_path / 'broken.log'})")
    deadline = time.monotonic() + 60
    while child.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert supervisor.tend() == []  # max_restarts reached
    supervisor.stop()


def test_the_last_line_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    supervisor = Supervisor({}, echo=lambda line: None)
    assert supervisor.add("never-started", [], tmp_path / "none.log").last_line() == ""
