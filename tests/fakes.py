"""Fakes of the hub's own ports, for unit tests only."""

from __future__ import annotations

from hub.ports import Headers


class InMemoryRegistry:
    """SchemaRegistry port: ids from 1 in registration order, same text -> same id."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls = 0

    def register(self, subject: str, schema_json: str) -> int:
        self.calls += 1
        if schema_json not in self.texts:
            self.texts.append(schema_json)
        return self.texts.index(schema_json) + 1

    def schema_by_id(self, schema_id: int) -> str | None:
        self.calls += 1
        return self.texts[schema_id - 1] if 1 <= schema_id <= len(self.texts) else None


class RecordingSink:
    """RecordSink port that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.sent.append((topic, key, value, list(headers)))

    def flush(self) -> None:
        pass
