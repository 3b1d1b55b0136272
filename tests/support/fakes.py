"""Fakes of the hub's own ports, for unit tests only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.domain.events import Event, EventType, new_event
from hub.errors import MappingError, UpstreamError
from hub.ports import Headers, Page, UpstreamRecord


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
        self.sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes | None]]]] = []

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.sent.append((topic, key, value, list(headers)))

    def flush(self) -> None:
        pass


class RecordingLog:
    """EventLog port: keeps appended events; ``fail_next`` makes the next append fail like a broker outage."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_next = 0

    def append(self, events: Sequence[Event]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise UpstreamError("broker did not acknowledge")
        self.events.extend(events)


class ScriptedUpstream:
    """Upstream port over a fixed list of records; ``failures`` fail that many fetches first."""

    name = "fake"
    endpoint = "fake://upstream"

    def __init__(self, records: list[UpstreamRecord], failures: int = 0) -> None:
        self.records = records
        self.failures = failures
        self.calls = 0

    def fetch(self, cursor: str | None, limit: int) -> Page:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise UpstreamError("upstream down")
        start = int(cursor or 0)
        chunk = self.records[start : start + limit]
        return Page(chunk, str(start + len(chunk)), start + len(chunk) < len(self.records))

    def redact(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        return {k: "***" if k == "secret" else v for k, v in raw.items()}

    def map(self, record: UpstreamRecord) -> Sequence[Event]:
        if record.raw.get("bad"):
            raise MappingError("bad record")
        return [
            new_event(
                "DossierWithdrawn",
                dossier_code=f"D-{record.record_id}",
                source_system="ONESTOP",
                source_ref=record.record_id,
                occurred_at=datetime(2026, 6, 9, tzinfo=UTC),
                payload={"reason": None},
            )
        ]


def project_in_memory(projection: Any, events: Sequence[Event], batches: int = 1) -> list[dict[str, Any]]:
    """Apply ``events`` to ``projection`` in an in-memory SQLite, in ``batches`` batches; its rows."""
    import sqlalchemy as sa

    engine = sa.create_engine("sqlite://")
    table = projection.tables(1)[0]
    table.metadata.create_all(engine)
    size = max(1, len(events) // batches)
    with engine.begin() as conn:
        for start in range(0, len(events), size):
            projection.apply(conn, 1, [(None, e) for e in events[start : start + size]])
        found = [dict(r._mapping) for r in conn.execute(sa.select(table))]
    engine.dispose()
    return found


def accepted_event(**payload: Any) -> Event:
    """A dossier's acceptance with a due date, ``payload`` adding or overriding fields."""
    return new_event(
        EventType.DOSSIER_ACCEPTED,
        dossier_code="000.00.20.H56-260609-0001",
        source_system="ONESTOP",
        source_ref="HS1/accept",
        occurred_at=datetime(2026, 6, 9, 1, 20, tzinfo=UTC),
        payload={"due_at": datetime(2026, 6, 12, 10, tzinfo=UTC), **payload},
    )
