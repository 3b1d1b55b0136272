"""Logging for the hub's processes: readable text for people, JSON lines for log shippers.

Log calls pass their facts as ``extra={...}`` (connector, endpoint, record_id, reason...), so the
JSON form carries them as fields; the text form shows the message.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

from hub.domain.identity import redact

__all__ = ["RedactFilter", "RepeatFilter", "configure_logging"]


def configure_logging(level: str = "WARNING", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RepeatFilter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RepeatFilter(logging.Filter):
    """Shows a Kafka client's repeated complaint once per ``window_s``, then says how many were not shown.

    While a broker is unreachable the Kafka clients (kafka-python, aiokafka) log every reconnect attempt,
    dozens of lines a second per process (1,500 in a minute in one process of the system run), which buries
    the hub's own lines. Repeats are the same logger, level and message template (the arguments,
    such as the local port, differ); the first of each window goes out with the count before it.
    """

    def __init__(
        self,
        prefix: tuple[str, ...] = ("kafka.", "aiokafka"),
        window_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__()
        self.prefix, self.window_s, self.clock = prefix, window_s, clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # key -> (window start, suppressed)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefix) or record.levelno < logging.WARNING:
            return True
        key, now = (record.name, record.levelno, str(record.msg)), self.clock()
        started, suppressed = self._seen.get(key, (None, 0))
        if started is not None and now - started < self.window_s:
            self._seen[key] = (started, suppressed + 1)
            return False
        self._seen[key] = (now, 0)
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like this since the last one shown)"
        return True


class RedactFilter(logging.Filter):
    """Masks identity numbers in every line a handler writes: the message with its arguments, and the
    text of an exception it carries (upstream error bodies end up in both)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
