"""The small interfaces the hub's core talks to; each adapter lives in a module of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from hub.domain.events import Event

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection

__all__ = [
    "EventLog",
    "Page",
    "Projection",
    "Record",
    "RecordSink",
    "RecordSource",
    "SchemaRegistry",
    "TopicPartition",
    "Upstream",
    "UpstreamRecord",
]

TopicPartition = tuple[str, int]
Headers = Sequence[tuple[str, bytes | None]]
"""Kafka allows a header without a value (null): it stays None as read."""


class Record(NamedTuple):
    """One message as read from the log, bytes untouched. A named tuple, not a frozen dataclass: a
    replay makes one per event, and a frozen dataclass took 0.8 us to build against 0.2 us."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None

    def header(self, name: str) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)


class EventLog(Protocol):
    """Appends events to the dossier log; returns once the broker has acknowledged all of them."""

    def append(self, events: Sequence[Event]) -> None: ...


class RecordSink(Protocol):
    """Writes raw records (dead letters, re-publication) and waits for acknowledgement on flush."""

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None: ...

    def flush(self) -> None: ...


class RecordSource(Protocol):
    """Reads raw records with explicit positions: nothing is committed behind the caller's back."""

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]: ...

    def commit(self, next_offsets: Mapping[TopicPartition, int]) -> None: ...

    def seek(self, topic: str, partition: int, offset: int) -> None: ...

    def seek_to_beginning(self, partitions: Sequence[TopicPartition] | None = None) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...

    def close(self) -> None: ...


class SchemaRegistry(Protocol):
    """A Confluent-compatible schema registry, reduced to what the codec needs."""

    def register(self, subject: str, schema_json: str) -> int: ...

    def schema_by_id(self, schema_id: int) -> str | None:
        """The schema's JSON, or None when the registry does not know the id."""
        ...


class Projection(Protocol):
    """A read model folded from the dossier events into SQL tables of its own.

    Tables are per generation (``<table>_g<N>``) so a rebuild fills new ones while the views keep
    reading the old; ``version`` changes when the table shapes change (that needs a rebuild).
    ``apply`` must be idempotent per event id: the runner never applies an offset twice, but the
    same event may sit at two offsets (an upstream record re-read).
    """

    name: str
    version: int

    def tables(self, generation: int) -> Sequence[sa.Table]: ...

    def views(self, generation: int, dialect: str) -> Sequence[tuple[str, str]]:
        """(view name, SELECT) pairs the BI-facing views are made of, for this generation."""
        ...

    def apply(self, conn: Connection, generation: int, batch: Sequence[tuple[Record, Event]]) -> None: ...


@dataclass(frozen=True, slots=True)
class UpstreamRecord:
    """One record as an external system gave it: its id there, and its fields."""

    record_id: str
    raw: Mapping[str, Any]
    key: str | None = None  # the dossier code when the record names one (dead letters keep it as key)


@dataclass(frozen=True, slots=True)
class Page:
    records: Sequence[UpstreamRecord]
    next_cursor: str
    more: bool


class Upstream(Protocol):
    """An external system seen as a feed: pages of records after a cursor, and how each becomes events.

    ``fetch`` raises UpstreamError for anything worth retrying; ``map`` is pure and raises MappingError
    (with a reason) for a record that cannot become events, and nothing else.
    """

    name: str
    endpoint: str

    def fetch(self, cursor: str | None, limit: int) -> Page: ...

    def map(self, record: UpstreamRecord) -> Sequence[Event]: ...

    def redact(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """The record as it may be parked: identity numbers masked (dead letters are read by people)."""
        ...
