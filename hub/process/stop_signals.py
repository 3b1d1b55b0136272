"""Stopping a long-running command cleanly: SIGTERM (what a supervisor or container runtime sends)
and SIGINT (Ctrl-C) let the loop finish the work in flight instead of dying inside it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["stop_on_signals"]


def stop_on_signals() -> Callable[[], bool]:
    """Install the handlers; the returned call says whether a stop was asked for."""
    asked = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        asked.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return asked.is_set
