"""stop_on_signals: SIGTERM and SIGINT ask a loop to stop; nothing else does."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from hub.process.stop_signals import stop_on_signals


@pytest.fixture(autouse=True)
def _restore_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_termination_signal_asks_for_a_stop(sig: signal.Signals) -> None:
    asked = stop_on_signals()
    assert not asked()
    os.kill(os.getpid(), sig)
    assert asked(), "the process keeps running and the loop sees the request"
