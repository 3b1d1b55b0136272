"""The replay guard of policies (code that calls external systems because of events).

A policy acts on read models (projections) that the projection runner builds exactly-once from the
log. When those read models are being rebuilt, the views keep reading the live generation, so a
policy sees nothing move. When they are *replayed* (a read store restored or started empty against a
log with history), they pass through old intermediate states, and acting on those would re-send
what was sent long ago. So each policy keeps marks: per partition, how far into the log the read
models were when it last acted. While any partition of the read models is below its mark, the
policy is replaying and sends nothing; it resumes once they are past, when every acknowledgement
already in the log (e.g. NationalStatusSynced) has been folded in, so only what was really never sent
goes out.

A policy with no marks yet (first start, or an empty store) takes the log's end offsets as its
marks: everything already in the log is history until the read models have read it. (On the Tansu
test broker end offsets under-report by the rest of the last batch.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.ports import TopicPartition
from hub.store.projection_store import info, read_offsets
from hub.store.sql_store import policy_marks_table, upsert

__all__ = ["ReplayGuard"]

log = logging.getLogger(__name__)
M = policy_marks_table


class ReplayGuard:
    """``live()`` is True when the read models ``projections`` have caught up with the policy's marks."""

    def __init__(
        self,
        engine: Engine,
        policy: str,
        projections: Sequence[str],
        end_offsets: Callable[[], Mapping[TopicPartition, int]],
    ) -> None:
        self.engine = engine
        self.policy = policy
        self.projections = list(projections)
        self.end_offsets = end_offsets
        self.behind: dict[TopicPartition, tuple[int, int]] = {}  # partition -> (read models at, mark)

    def marks(self) -> dict[TopicPartition, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(M.c.topic, M.c.partition, M.c.next_offset).where(M.c.policy == self.policy))
            return {(t, p): int(n) for t, p, n in rows}

    def read_models_at(self) -> dict[TopicPartition, int]:
        """Per partition, the lowest next offset over the projections' live generations."""
        at: dict[TopicPartition, int] | None = None
        with self.engine.connect() as conn:
            for name in self.projections:
                found = info(conn, name)
                offsets = read_offsets(conn, name, found.active_generation) if found else {}
                at = offsets if at is None else {tp: min(at.get(tp, 0), offsets.get(tp, 0)) for tp in at | offsets}
        return at or {}

    def _store(self, marks: Mapping[TopicPartition, int]) -> None:
        rows = [{"policy": self.policy, "topic": t, "partition": p, "next_offset": n} for (t, p), n in marks.items()]
        if not rows:
            return
        with self.engine.begin() as conn:
            upsert(conn, M, rows)

    def live(self) -> bool:
        marks = self.marks()
        if not marks:
            marks = dict(self.end_offsets())  # every partition, zeros too: the marks say "initialised"
            self._store(marks)
            log.info(
                "%s starts with marks at the log's end (%d records): history is not re-sent",
                self.policy,
                sum(marks.values()),
            )
        at = self.read_models_at()
        self.behind = {tp: (at.get(tp, 0), mark) for tp, mark in marks.items() if at.get(tp, 0) < mark}
        if self.behind:
            return False
        raised = {tp: n for tp, n in at.items() if n > marks.get(tp, -1)}
        self._store(raised)
        return True
