"""Rebuilding a projection without downtime: replay the whole log into a new generation while the
old one keeps serving, then swap when caught up (`hub projections rebuild`, the API's operators)."""

from __future__ import annotations

import sys
import time

import click

from hub.bootstrap import make_codec, make_engine, make_projection_runner
from hub.log.kafka_log import KafkaEventLog
from hub.log.kafka_source import KafkaRecordSource
from hub.ports import Projection
from hub.runtime.projection_runner import BatchResult
from hub.settings import Settings
from hub.store.projection_store import begin_rebuild, try_swap

__all__ = ["rebuild_projection"]


def rebuild_projection(settings: Settings, target: Projection, *, show_progress: bool) -> tuple[int, int]:
    """Replay the whole log into a new generation while the old one serves, then swap.
    Returns the new generation and the number of records replayed."""
    engine = make_engine(settings)
    generation = begin_rebuild(engine, target)
    log = KafkaEventLog(settings, make_codec(settings))
    runner = make_projection_runner(
        settings, log, engine, [target], name=f"rebuild-{target.name}", rebuild_generation=generation
    )
    source = KafkaRecordSource(settings, [settings.dossier_topic])
    runner.seek(source, sorted(source.assignment()))
    total = sum(source.end_offsets().values())
    done = sum(runner.known[target.name].values())
    started = time.monotonic()
    swapped = [False]

    def swap_when_idle() -> bool:
        swapped[0] = try_swap(engine, target, generation)
        return swapped[0]

    try:
        with click.progressbar(
            length=max(total, 1),
            label=f"rebuilding {target.name} g{generation}",
            show_eta=True,
            show_percent=True,
            file=sys.stderr,
            hidden=not show_progress,
        ) as bar:
            bar.update(done)

            def progress(batch: BatchResult) -> None:
                rate = runner.totals.records / max(time.monotonic() - started, 1e-9)
                bar.label = f"rebuilding {target.name} g{generation} at {rate:,.0f} events/s"
                bar.update(batch.records)

            runner.run(
                source,
                max_records=settings.projection_batch,
                on_batch=progress,
                on_idle=swap_when_idle,
                commit_to_kafka=False,
            )
    finally:
        source.close()
        log.close()
        engine.dispose()
    return generation, runner.totals.records
