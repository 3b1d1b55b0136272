"""Free loopback ports and waiting for a server to listen."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path

__all__ = ["free_port", "wait_for_port"]

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000  # below: well-known services and our own defaults (5432, 8080, 8090, 9092, ...)
_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port(span: int = 1) -> int:
    """A loopback port that is free now, outside the kernel's ephemeral range, never handed out before by
    this process; with ``span``, the first of that many consecutive such ports.

    Outside the ephemeral range because the kernel gives those to every bind(0) and connect(): a port
    chosen there can be taken by another server of the same run (two servers on one port: the second
    never starts, while a probe of the port sees the first) or, once its server is killed, by any socket
    before the restarted server binds it again. A CI run of the system test failed, as far as its output
    shows, that way: its API exited with 3 (uvicorn could not start) at every restart for the whole run.
    """
    ephemeral = _ephemeral_range()
    with _lock:
        for _ in range(500):
            first = random.randrange(_LOWEST, 65536 - span + 1)
            run = range(first, first + span)
            if any(ephemeral[0] <= p <= ephemeral[1] or p in _handed_out or not _bindable(p) for p in run):
                continue
            _handed_out.update(run)
            return first
        # The ephemeral range covers (nearly) everything: let the kernel choose, as before.
        while (first := _kernel_choice()) in _handed_out or not all(_bindable(first + i) for i in range(1, span)):
            pass
        _handed_out.update(range(first, first + span))
        return first


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _RANGE_FILE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _kernel_choice() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    # No SO_REUSEADDR: a port with connections still in TIME_WAIT counts as taken.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout_s: float, alive: object = None) -> None:
    """Return once 127.0.0.1:port accepts connections; ``alive()`` False aborts early."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(alive) and not alive():
            raise RuntimeError(f"the server meant for port {port} exited before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout_s}s")
