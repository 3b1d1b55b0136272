"""Rebuilding a projection without downtime: replay the whole log into a new generation while the
old one keeps serving, then swap when caught up (`hub projections rebuild`, the API's operators)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from hub.log.kafka_source import KafkaRecordSource
from hub.ports import Projection
from hub.runtime.projection_runner import BatchResult, ProjectionRunner
from hub.store.projection_store import begin_rebuild, try_swap

__all__ = ["RebuildProgress", "rebuild_projection"]


@dataclass(frozen=True)
class RebuildProgress:
    """Where a rebuild stands after a batch: what a progress bar or a status line needs."""

    projection: str
    generation: int
    done: int  # records replayed into the new generation so far (a resumed rebuild counts earlier ones)
    total: int  # records in the log when the rebuild started
    rate: float  # records per second over this run


def rebuild_projection(
    engine: Engine,
    target: Projection,
    source: KafkaRecordSource,
    runner_for: Callable[[int], ProjectionRunner],
    *,
    batch: int,
    progress: Callable[[RebuildProgress], None] | None = None,
) -> tuple[int, int]:
    """Replay ``source`` (the dossier log) into a new generation of ``target`` made by ``runner_for``,
    calling ``progress`` after every batch, and swap once caught up. Returns the new generation and the
    number of records replayed."""
    generation = begin_rebuild(engine, target)
    runner = runner_for(generation)
    runner.seek(source, sorted(source.assignment()))
    total = sum(source.end_offsets().values())
    done = sum(runner.known[target.name].values())
    started = time.monotonic()

    def report(batch_done: BatchResult | None) -> None:
        nonlocal done
        if progress is None:
            return
        done += batch_done.records if batch_done is not None else 0
        rate = runner.totals.records / max(time.monotonic() - started, 1e-9)
        progress(RebuildProgress(target.name, generation, done, total, rate))

    report(None)
    runner.run(
        source,
        max_records=batch,
        on_batch=report,
        on_idle=lambda: try_swap(engine, target, generation),
        commit_to_kafka=False,
    )
    return generation, runner.totals.records
