"""The projection runner: consume the dossier log in batches, apply projections, and commit each
batch's rows together with the offsets it consumed, in one database transaction.

Exactly-once in effect: the stored offsets are read (locked) inside the transaction that writes the
rows, records below them are skipped, and the new offsets are written before commit. A crash at any
point leaves either the whole batch or none of it; on restart the consumer seeks to the stored
offsets. Kafka's own group offsets are committed afterwards only so that lag tools see progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine

from hub.domain.events import Event
from hub.errors import HubError, UpstreamError
from hub.log.codec import EventCodec
from hub.log.consuming import decode_batch
from hub.log.dead_letters import DeadLetters
from hub.ports import Projection, Record, RecordSource, TopicPartition
from hub.store.projection_store import lock_generation, lock_offsets, read_offsets, store_offsets

__all__ = ["BatchResult", "ProjectionRunner"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class BatchResult:
    """What one batch did: records seen, events applied, records below the stored offsets, parked."""

    records: int = 0
    applied: int = 0
    skipped: int = 0
    parked: int = 0


@dataclass
class RunTotals(BatchResult):
    """Sums over a run's batches; times are ``time.monotonic()``."""

    batches: int = 0
    started: float = field(default_factory=time.monotonic)
    last_batch_at: float | None = None

    def add(self, batch: BatchResult) -> None:
        self.records += batch.records
        self.applied += batch.applied
        self.skipped += batch.skipped
        self.parked += batch.parked
        self.batches += 1
        self.last_batch_at = time.monotonic()

    def rate(self) -> float:
        """Records a second from the start to the end of the last batch: waiting for records that never
        came (an idle exit's wait, say) is not part of it."""
        if self.last_batch_at is None:
            return 0.0
        return self.records / max(self.last_batch_at - self.started, 1e-9)


def _at_or_above(
    items: Sequence[T],
    record_of: Callable[[T], Record],
    floor: dict[TopicPartition, int],
    starts: dict[TopicPartition, int],
) -> Sequence[T]:
    """The items whose record is at or above ``floor`` (per partition). Usually every one is (the batch
    starts where the last ended), and checking that per partition saves a test per record."""
    if all(floor.get(tp, 0) <= start for tp, start in starts.items()):
        return items
    return [i for i in items if (r := record_of(i)).offset >= floor.get((r.topic, r.partition), 0)]


def _itself(record: Record) -> Record:
    return record


def _first(pair: tuple[Record, Event]) -> Record:
    return pair[0]


class ProjectionRunner:
    """Runs projections over one record source. ``rebuild_generation`` targets a generation being
    rebuilt (one projection); otherwise each projection's active generation."""

    def __init__(
        self,
        engine: Engine,
        codec: EventCodec,
        dead_letters: DeadLetters,
        projections: Sequence[Projection],
        *,
        name: str,
        rebuild_generation: int | None = None,
    ) -> None:
        if rebuild_generation is not None and len(projections) != 1:
            raise ValueError("a rebuild runs exactly one projection")
        self.engine = engine
        self.codec = codec
        self.dead_letters = dead_letters
        self.projections = list(projections)
        self.name = name
        self.rebuild_generation = rebuild_generation
        self.known: dict[str, dict[TopicPartition, int]] = {p.name: {} for p in self.projections}
        self.totals = RunTotals()

    # -- positions ------------------------------------------------------------------------------

    def _generation(self, projection: Projection, conn: Connection) -> int:
        info = lock_generation(conn, projection.name)
        if self.rebuild_generation is None:
            if info.active_version != projection.version:
                raise HubError(
                    f"{projection.name}'s tables are version {info.active_version} and this hub needs version "
                    f"{projection.version}: run `hub projections rebuild {projection.name}` "
                    "(the views keep serving meanwhile)"
                )
            return info.active_generation
        if info.building_generation != self.rebuild_generation:
            raise HubError(f"generation {self.rebuild_generation} of {projection.name} is no longer being rebuilt")
        return self.rebuild_generation

    def positions(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int | None]:
        """Where to resume each partition: the lowest stored offset over the projections (None: start)."""
        with self.engine.connect() as conn:
            for projection in self.projections:
                generation = self._generation(projection, conn)
                self.known[projection.name] = read_offsets(conn, projection.name, generation)
        return {
            tp: min((self.known[p.name].get(tp) for p in self.projections), key=lambda o: -1 if o is None else o)
            for tp in partitions
        }

    def seek(self, source: RecordSource, partitions: Sequence[TopicPartition]) -> None:
        """Seek ``source`` to the stored offsets (call on every assignment)."""
        fresh = []
        for (topic, partition), offset in self.positions(partitions).items():
            if offset is None:
                fresh.append((topic, partition))
            else:
                source.seek(topic, partition, offset)
        if fresh:
            source.seek_to_beginning(fresh)
        log.info(
            "%s resumes %d partition(s) from stored offsets, %d from the start",
            self.name,
            len(partitions) - len(fresh),
            len(fresh),
        )

    # -- one batch ------------------------------------------------------------------------------

    def apply(self, records: Sequence[Record]) -> BatchResult:
        """Apply one polled batch; returns what happened. Raises (nothing committed) on DB failure."""
        result = BatchResult(records=len(records))
        if not records:
            return result
        ends: dict[TopicPartition, int] = {}
        starts: dict[TopicPartition, int] = {}
        for record in records:
            tp = (record.topic, record.partition)
            ends[tp] = max(ends.get(tp, 0), record.offset + 1)
            starts[tp] = min(starts.get(tp, record.offset), record.offset)
        floor = {tp: min(self.known[p.name].get(tp, 0) for p in self.projections) for tp in ends}
        todo = _at_or_above(records, _itself, floor, starts)
        parked_before = self.dead_letters.parked[self.name]
        decoded = decode_batch(todo, self.codec, self.dead_letters, self.name) if todo else []
        result.parked = self.dead_letters.parked[self.name] - parked_before
        stored_after: dict[str, dict[TopicPartition, int]] = {}
        with self.engine.begin() as conn:
            for projection in self.projections:
                generation = self._generation(projection, conn)
                stored = lock_offsets(conn, projection.name, generation, ends)
                fresh = _at_or_above(decoded, _first, stored, starts)
                if fresh:
                    projection.apply(conn, generation, fresh)
                result.applied = max(result.applied, len(fresh))
                new = {tp: max(stored.get(tp, 0), end) for tp, end in ends.items()}
                store_offsets(conn, projection.name, generation, new)
                stored_after[projection.name] = new
        for name, offsets in stored_after.items():
            self.known[name].update(offsets)
        result.skipped = len(records) - result.applied - result.parked
        self.totals.add(result)
        return result

    # -- the loop -------------------------------------------------------------------------------

    def run(
        self,
        source: RecordSource,
        *,
        max_records: int = 5000,
        idle_exit_s: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_batch: Callable[[BatchResult], None] | None = None,
        on_idle: Callable[[], bool] | None = None,
        commit_to_kafka: bool = True,
    ) -> RunTotals:
        """Poll and apply until stopped, idle for ``idle_exit_s``, or ``on_idle`` returns True."""
        idle_since = time.monotonic()
        while not should_stop():
            records = source.poll(max_records=max_records, timeout_s=0.5)
            if not source.assignment():  # still joining the group: that is not idleness
                idle_since = time.monotonic()
            if not records:
                if on_idle is not None and on_idle():
                    break
                if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                    break
                continue
            idle_since = time.monotonic()
            result = self.apply(records)
            if commit_to_kafka:
                self._commit_to_kafka(source, records)
            if on_batch is not None:
                on_batch(result)
        return self.totals

    def _commit_to_kafka(self, source: RecordSource, records: Sequence[Record]) -> None:
        ends: dict[TopicPartition, int] = {}
        for record in records:
            ends[(record.topic, record.partition)] = record.offset + 1
        try:
            source.commit(ends)
        except UpstreamError as exc:  # informational only: the database holds the truth
            log.warning("%s could not commit group offsets to Kafka (lag display only): %s", self.name, exc)
