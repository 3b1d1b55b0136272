"""Children that end with the process that started them, however it ends.

`hub demo` and the system harness start the hub's processes and a broker; if they are killed
(SIGKILL, an OOM kill, a CI timeout) nothing runs their clean-up, and the children went on running,
orphaned, holding ports and CPU. On Linux the kernel can send a child a signal when its parent goes:
prctl(PR_SET_PDEATHSIG). Elsewhere this does nothing.

The signal follows the *thread* that started the child: start children from a thread that lives as
long as they should (the hub starts them from its main thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["ending_with_parent"]

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None  # loaded before any fork


def ending_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for subprocess.Popen: the child receives ``sig`` when this process dies."""
    if _LIBC is None:
        return None
    parent = os.getpid()
    libc = _LIBC

    def arm() -> None:  # runs in the child between fork and exec: no imports, no allocation to speak of
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), int(sig))

    return arm
