"""The record source (consumer) of the hub: aiokafka on a private event loop, behind a blocking API.

Why aiokafka and not kafka-python here: aiokafka parses record batches in C. Reading the dossier
log costs 6 us of CPU per record against kafka-python's 19 (100k records, 4 headers each, measured
2026-11-23), and reading is most of what a replay does besides decoding and SQL. kafka-python
stays the producer and admin client (aiokafka cannot get a producer id from the Tansu test broker).

The consumer lives on an event loop in a thread of its own, so the group's heartbeats and the
next fetch go on while the caller applies a batch. Callers see plain blocking methods; the
``on_assign`` hook runs in a worker thread while the rebalance waits for it, so it may seek.
A rebalance can therefore land while the caller applies a batch of partitions it just lost:
the projection runner is safe against that (it locks and re-checks its stored offsets in the
transaction that writes rows), and every other consumer of the hub commits nothing it relies on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as AioTopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from hub.errors import UpstreamError
from hub.log.kafka_security import aiokafka_options
from hub.ports import Record, TopicPartition
from hub.settings import Settings

__all__ = ["KafkaRecordSource", "follow"]

T = TypeVar("T")


class _AssignmentHook(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs ``on_assign`` off the loop (it blocks on SQL and calls back into the source to seek).

    aiokafka logs a listener's exception and goes on consuming from wherever the group left off;
    here it is kept in ``failures`` and the source's next poll raises it instead.
    """

    def __init__(self, on_assign: Callable[[list[TopicPartition]], None], failures: list[BaseException]) -> None:
        self.on_assign = on_assign
        self.failures = failures

    async def on_partitions_revoked(self, revoked: object) -> None:
        """Nothing to flush: every applied batch is already committed with its offsets."""

    async def on_partitions_assigned(self, assigned: Sequence[AioTopicPartition]) -> None:
        partitions = [(tp.topic, tp.partition) for tp in assigned]
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.on_assign, partitions)
        except Exception as exc:
            self.failures.append(exc)


class KafkaRecordSource:
    """RecordSource over a Kafka consumer: a consumer group (split partitions, commits) or, without a
    group, every partition (or the ``partitions`` given) assigned directly (``hub events tail``, rebuilds,
    standalone runners that split the partitions between them by configuration).

    ``on_assign`` runs whenever partitions are (re)assigned, before records of them are returned:
    the place to seek to positions stored elsewhere (a projection's own offsets).
    """

    def __init__(
        self,
        settings: Settings,
        topics: Sequence[str],
        *,
        group_id: str | None = None,
        from_beginning: bool = True,
        session_timeout_ms: int | None = None,
        on_assign: Callable[[list[TopicPartition]], None] | None = None,
        partitions: Sequence[int] | None = None,
    ) -> None:
        self.settings = settings
        self.group_id = group_id
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kafka-consumer", daemon=True)
        self._thread.start()
        session_timeout_ms = session_timeout_ms or settings.kafka_session_timeout_ms
        options: dict[str, Any] = {
            **aiokafka_options(settings),
            "bootstrap_servers": settings.kafka_bootstrap,
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest" if from_beginning else "latest",
            "request_timeout_ms": max(settings.kafka_request_timeout_ms, session_timeout_ms + 5000),
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": max(session_timeout_ms // 6, 500),
            "client_id": "motcua-hub",
            # Bounds the read-ahead: what one fetch brings in, and each partition's share of it.
            "fetch_max_bytes": settings.kafka_fetch_max_bytes,
            "max_partition_fetch_bytes": settings.kafka_fetch_max_bytes,
        }
        self._consumer: AIOKafkaConsumer  # set by _start, on the loop
        self._hook_failures: list[BaseException] = []
        try:
            self._call(self._start(options, list(topics), on_assign, partitions))
        except BaseException:
            self._stop_loop()
            raise

    # -- running on the loop --------------------------------------------------------------------

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the consumer's loop and wait for it (KafkaError -> UpstreamError)."""
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result()
        except KafkaError as exc:
            raise UpstreamError(f"Kafka at {self.settings.kafka_bootstrap}: {exc}") from exc
        except concurrent.futures.CancelledError as exc:
            raise UpstreamError("the Kafka consumer was stopped") from exc

    async def _start(
        self,
        options: dict[str, Any],
        topics: list[str],
        on_assign: Callable[[list[TopicPartition]], None] | None,
        partitions: Sequence[int] | None,
    ) -> None:
        consumer = AIOKafkaConsumer(**options)
        deadline = time.monotonic() + self.settings.kafka_bootstrap_timeout_ms / 1000
        while True:  # a broker that is still starting is not a reason to give up (kafka-python waited too)
            try:
                await consumer.start()
                break
            except KafkaError as exc:
                if time.monotonic() >= deadline:
                    raise UpstreamError(f"cannot consume from Kafka at {self.settings.kafka_bootstrap}: {exc}") from exc
                await asyncio.sleep(0.5)
        self._consumer = consumer  # before on_assign, which seeks through it
        try:
            if self.group_id is not None:
                hook = _AssignmentHook(on_assign, self._hook_failures) if on_assign else None
                consumer.subscribe(topics, listener=hook)
                return
            await consumer.topics()  # metadata of every topic, including ones created after start
            assigned = [
                AioTopicPartition(topic, p)
                for topic in topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
                if partitions is None or p in partitions
            ]
            if not assigned:
                raise UpstreamError(f"no partitions found for {', '.join(topics)} (create the topics first)")
            consumer.assign(assigned)
            if options["auto_offset_reset"] == "earliest":
                await self._to_beginning(consumer, assigned)
            else:
                await consumer.seek_to_end(*assigned)
        except BaseException:
            await consumer.stop()
            raise
        if on_assign:
            await asyncio.get_running_loop().run_in_executor(
                None, on_assign, [(tp.topic, tp.partition) for tp in assigned]
            )

    @staticmethod
    async def _to_beginning(consumer: AIOKafkaConsumer, partitions: Sequence[AioTopicPartition]) -> None:
        # Explicit offsets rather than seek_to_beginning(): that waits on the fetcher, which inside a
        # rebalance listener is waiting on us.
        for tp, offset in (await consumer.beginning_offsets(list(partitions))).items():
            consumer.seek(tp, offset)

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    # -- RecordSource ---------------------------------------------------------------------------

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        batches = self._call(self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records))
        if self._hook_failures:  # records after a failed on_assign were not positioned by it
            raise self._hook_failures.pop(0)
        return [
            Record(m.topic, m.partition, m.offset, m.key, m.value, m.headers, m.timestamp)  # headers: a tuple
            for _, batch in sorted(batches.items())  # each partition's batch is in offset order already
            for m in batch
        ]

    def assignment(self) -> set[TopicPartition]:
        return self._call(self._assignment())

    async def _assignment(self) -> set[TopicPartition]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def commit(self, next_offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offsets to read (last applied + 1), per partition."""
        if not next_offsets:
            return
        offsets = {AioTopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in next_offsets.items()}
        self._call(self._consumer.commit(offsets))

    def seek(self, topic: str, partition: int, offset: int) -> None:
        self._call(self._seek(AioTopicPartition(topic, partition), offset))

    async def _seek(self, tp: AioTopicPartition, offset: int) -> None:
        self._consumer.seek(tp, offset)

    def seek_to_beginning(self, partitions: Sequence[TopicPartition] | None = None) -> None:
        chosen = [AioTopicPartition(t, p) for t, p in partitions] if partitions is not None else None
        self._call(self._seek_to_beginning(chosen))

    async def _seek_to_beginning(self, partitions: list[AioTopicPartition] | None) -> None:
        await self._to_beginning(self._consumer, partitions or list(self._consumer.assignment()))

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The broker's end offsets of the assigned partitions (on the Tansu test broker: the first offset of
        the last batch + 1, so short by the rest of that batch)."""
        return self._call(self._end_offsets())

    async def _end_offsets(self) -> dict[TopicPartition, int]:
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned) if assigned else {}
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._stop())
        finally:
            self._stop_loop()

    async def _stop(self) -> None:
        coordinator: Any = getattr(self._consumer, "_coordinator", None)
        if getattr(coordinator, "generation", None) == 0 and getattr(coordinator, "member_id", ""):
            # Tansu numbers a group's first generation 0, which aiokafka reads as "never joined" and so
            # does not leave the group: the next member then waits out this one's session (15 s vs 6 s
            # in the resume test). Kafka starts at 1; LeaveGroup itself does not carry the generation.
            coordinator.generation = 1
        await self._consumer.stop()


def follow(source: KafkaRecordSource, idle_exit_s: float | None = None) -> Iterator[Record]:
    """Records as they arrive, until ``idle_exit_s`` seconds pass without one (None: forever)."""
    last_seen = time.monotonic()
    while True:
        records = source.poll(timeout_s=0.5)
        if records:
            last_seen = time.monotonic()
        elif idle_exit_s is not None and time.monotonic() - last_seen >= idle_exit_s:
            return
        yield from records
