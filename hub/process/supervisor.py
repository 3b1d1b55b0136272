"""Child processes running ``hub`` commands, started again when they die: what `hub demo` does for its
parts and what the system harness does for the hub under test (compose's ``restart:`` in production).

The hub's processes are crash-only: one that loses Kafka or its database exits, and resumes from the
offsets and cursors in its store when started again, so a supervisor is part of every deployment.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hub.process.parent_death import ending_with_parent

__all__ = ["Child", "Supervisor"]


@dataclass
class Child:
    name: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    exits: list[int] = field(default_factory=list)
    started_at: float = 0.0  # monotonic, of the current incarnation
    stopped: bool = False  # stopped on purpose: not started again
    log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        if self.log_file is None:
            self.log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "--log-level", "WARNING", *self.args],
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=ending_with_parent(),
        )
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def last_line(self) -> str:
        """The last line of this child's log (its error, when it exited by itself)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(log.seek(0, 2) - 4096, 0))
                lines = log.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip()[:300] if lines else ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.alive() and self.process is not None else None


class Supervisor:
    """Starts the children and, on each ``tend()``, starts again those that exited: at most
    ``max_restarts`` times each (None: always), not sooner than ``backoff_s`` after the last start, so a
    child that cannot start (its database is down) does not spin."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        max_restarts: int | None = 5,
        backoff_s: float = 1.0,
        echo: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.env = env
        self.children: list[Child] = []
        self.max_restarts = max_restarts
        self.backoff_s = backoff_s
        self.echo = echo

    def add(self, name: str, args: list[str], log_path: Path) -> Child:
        child = Child(name, args, log_path)
        self.children.append(child)
        return child

    def start(self) -> None:
        for child in self.children:
            child.start(self.env)

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def tend(self) -> list[Child]:
        """Restart the children that exited; returns those restarted."""
        restarted: list[Child] = []
        now = time.monotonic()
        for child in self.children:
            if child.alive() or child.process is None or child.stopped:
                continue
            if self.max_restarts is not None and child.restarts >= self.max_restarts:
                continue
            if now - child.started_at < self.backoff_s:
                continue
            child.exits.append(child.process.returncode)
            child.restarts += 1
            limit = f"/{self.max_restarts}" if self.max_restarts is not None else ""
            code = child.process.returncode
            said = f": {line}" if code > 0 and (line := child.last_line()) else ""  # killed: its last line is stale
            self.echo(f"{child.name} exited with {code}{said}; restart {child.restarts}{limit} (log {child.log_path})")
            child.start(self.env)
            restarted.append(child)
        return restarted

    def stop(self, grace_s: float = 10.0, only: Collection[str] | None = None) -> None:
        """SIGINT to every child (or those named in ``only``), SIGKILL for those still there after ``grace_s``;
        a stopped child is not started again."""
        chosen = [c for c in self.children if only is None or c.name in only]
        for child in chosen:
            child.stopped = True
            if child.alive() and child.process is not None:
                child.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for child in chosen:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            if child.log_file is not None:
                child.log_file.close()
                child.log_file = None
