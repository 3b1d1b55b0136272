"""Parking records the hub cannot use: original bytes kept, the reason and the origin in headers."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from hub.ports import Record, RecordSink

__all__ = ["DLQ_HEADERS", "DeadLetters"]

log = logging.getLogger(__name__)

DLQ_HEADERS = ("dlq.reason", "dlq.source", "dlq.topic", "dlq.partition", "dlq.offset", "dlq.parked_at")


class DeadLetters:
    """Writes to the dead-letter topic and counts what it parked, by source."""

    def __init__(self, sink: RecordSink, topic: str) -> None:
        self.sink = sink
        self.topic = topic
        self.parked: Counter[str] = Counter()

    def park(self, record: Record, reason: str, source: str) -> None:
        """Park a record read from a topic; its own headers follow ours unchanged."""
        headers = [
            ("dlq.reason", reason.encode("utf-8")),
            ("dlq.source", source.encode("utf-8")),
            ("dlq.topic", record.topic.encode("utf-8")),
            ("dlq.partition", str(record.partition).encode()),
            ("dlq.offset", str(record.offset).encode()),
            ("dlq.parked_at", datetime.now(UTC).isoformat().encode()),
            *record.headers,
        ]
        self.sink.send_raw(self.topic, record.key, record.value, headers)
        self.parked[source] += 1
        log.warning(
            "parked %s[%d]@%d from %s: %s",
            record.topic,
            record.partition,
            record.offset,
            source,
            reason,
            extra={
                "event": "parked",
                "source": source,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason,
            },
        )

    def park_upstream(self, raw: bytes, reason: str, source: str, record_id: str, key: bytes | None = None) -> None:
        """Park an upstream record that never became an event (it could not be mapped)."""
        headers = [
            ("dlq.reason", reason.encode("utf-8")),
            ("dlq.source", source.encode("utf-8")),
            ("dlq.record_id", record_id.encode("utf-8")),
            ("dlq.parked_at", datetime.now(UTC).isoformat().encode()),
        ]
        self.sink.send_raw(self.topic, key, raw, headers)
        self.parked[source] += 1
        log.warning(
            "parked upstream record %s from %s: %s",
            record_id,
            source,
            reason,
            extra={"event": "parked", "source": source, "record_id": record_id, "reason": reason},
        )
