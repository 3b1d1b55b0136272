"""History versus live on the dossier topic, for the SLA monitor.

Records already on the topic when a worker starts are history: folded, not judged, so a dossier
finished years ago does not raise and clear on the way; the SLA scan waits until the worker has
read up to where the topic ended at its start, then judges every such dossier once. How far each
partition was read is kept in SQL (``hub_monitor_state``, ``reached:<topic>:<partition>``) after the
folds it covers, so a restarted worker, or one given another worker's partitions, does not wait for
records that will never come again (faust's committed offset never passes what was stored here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.ports import TopicPartition
from hub.store.sql_store import monitor_state_table, upsert

__all__ = ["Replay"]

S = monitor_state_table


class Replay:
    def __init__(
        self, engine: Engine, topic: str, ends: Mapping[TopicPartition, int], assigned: Callable[[], Iterable[Any]]
    ) -> None:
        self.engine = engine
        self.topic = topic
        self.ends = {partition: end for (_, partition), end in ends.items()}
        self.assigned = assigned  # the worker's partitions now: faust TPs (topic, partition)
        self.reached: dict[int, int] = {}

    def _name(self, partition: int) -> str:
        return f"reached:{self.topic}:{partition}"

    def saw(self, partition: int, offset: int) -> bool:
        """Note a record; True when it is history."""
        self.reached[partition] = max(self.reached.get(partition, -1), offset)
        return offset < self.ends.get(partition, 0)

    def save(self, reached: Mapping[int, int]) -> None:
        """Store how far each partition was read; call after the folds of those records committed."""
        rows = [{"name": self._name(p), "state": str(offset)} for p, offset in reached.items()]
        with self.engine.begin() as conn:
            upsert(conn, S, rows)

    def stored(self) -> dict[int, int]:
        prefix = f"reached:{self.topic}:"
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(S.c.name, S.c.state).where(S.c.name.startswith(prefix))).all()
        return {int(name.removeprefix(prefix)): int(state) for name, state in rows}

    def active(self) -> bool:
        """Whether this worker still has history to read on any partition it holds."""
        mine = [tp.partition for tp in self.assigned() if tp.topic == self.topic and self.ends.get(tp.partition)]
        if not mine:
            return False
        stored = self.stored()
        return any(max(self.reached.get(p, -1), stored.get(p, -1)) < self.ends[p] - 1 for p in mine)
