"""``hub projections run|rebuild|status``: the read models and their place in the log."""

from __future__ import annotations

import sys
import time

import click

from hub import bootstrap
from hub.bootstrap import make_engine, make_log, make_log_end, make_projection_runner
from hub.cli.context import settings_of
from hub.errors import HubError
from hub.log.kafka_log import ensure_topics, hub_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.process.gc_tuning import tune_for_throughput
from hub.process.malloc_tuning import keep_large_blocks_out_of_the_heap
from hub.process.stop_signals import stop_on_signals
from hub.runtime.projection_rebuild import RebuildProgress
from hub.runtime.stall_watchdog import StallWatchdog
from hub.store.projection_store import activate_first_generation, projection_status
from projections.registry import PROJECTIONS, projection

__all__ = ["projections"]


@click.group()
def projections() -> None:
    """Read models built from the dossier events (timeline, dossier state)."""


@projections.command("run")
@click.option("--name", "names", multiple=True, help="Only these projections (default: all).")
@click.option("--idle-exit", type=float, help="Stop after this many seconds without new records.")
@click.option("--standalone", is_flag=True, help="Read partitions directly, without a consumer group.")
@click.option("--partitions", help="With --standalone: only these partitions (e.g. 0,2,4); default all.")
@click.pass_context
def run(
    ctx: click.Context, names: tuple[str, ...], idle_exit: float | None, standalone: bool, partitions: str | None
) -> None:
    """Keep the projections up to date; several runners in one group split the partitions."""
    settings = settings_of(ctx)
    chosen = [projection(n) for n in names] if names else list(PROJECTIONS.values())
    engine = make_engine(settings)
    for p in chosen:
        activate_first_generation(engine, p)
    ensure_topics(settings, hub_topics(settings))
    log = make_log(settings)
    runner = make_projection_runner(settings, log, engine, chosen, name=settings.projection_group)
    if partitions and not standalone:
        raise click.UsageError("--partitions needs --standalone (a consumer group assigns partitions itself)")
    if standalone:
        chosen_partitions = [int(p) for p in partitions.split(",")] if partitions else None
        source = KafkaRecordSource(settings, [settings.dossier_topic], partitions=chosen_partitions)
        runner.seek(source, sorted(source.assignment()))
    else:
        holder: list[KafkaRecordSource] = []
        source = KafkaRecordSource(
            settings,
            [settings.dossier_topic],
            group_id=settings.projection_group,
            on_assign=lambda tps: runner.seek(holder[0], tps),
        )
        holder.append(source)
    stop = stop_on_signals()
    watchdog = StallWatchdog(settings.kafka_stall_exit_s, "the projection runner", stopping=stop).start()

    def should_stop() -> bool:
        watchdog.beat()
        return stop()

    click.echo(
        f"projecting {', '.join(p.name for p in chosen)} from {settings.dossier_topic} into "
        f"{engine.url.render_as_string(hide_password=True)}",
        err=True,
    )
    _tune_for_long_replays()
    try:
        totals = runner.run(
            source,
            max_records=settings.projection_batch,
            idle_exit_s=idle_exit,
            should_stop=should_stop,
            commit_to_kafka=not standalone,
        )
    finally:
        source.close()
        log.close()
        engine.dispose()
    last = totals.last_batch_at
    since_last = "" if last is None else f"; last batch {time.monotonic() - last:.2f} s ago"
    click.echo(
        f"{totals.records} records: {totals.applied} applied, {totals.skipped} already applied, "
        f"{totals.parked} parked ({totals.rate():.0f}/s{since_last})"
    )


@projections.command("rebuild")
@click.argument("name")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.pass_context
def rebuild(ctx: click.Context, name: str, progress: bool) -> None:
    """Replay from the beginning into new tables while the old ones serve, then swap atomically."""
    settings = settings_of(ctx)
    _tune_for_long_replays()
    started = time.monotonic()
    with click.progressbar(
        length=1, label=f"rebuilding {name}", show_eta=True, file=sys.stderr, hidden=not progress
    ) as bar:

        def draw(now: RebuildProgress) -> None:
            bar.length = max(now.total, 1)
            bar.label = f"rebuilding {name} g{now.generation} at {now.rate:,.0f} events/s"
            bar.update(now.done - bar.pos)

        generation, records = bootstrap.rebuild(settings, projection(name), draw)
    elapsed = time.monotonic() - started
    click.echo(
        f"{name}: generation {generation} is live: {records} records replayed in {elapsed:.1f}s "
        f"({records / max(elapsed, 1e-9):,.0f}/s)"
    )


def _tune_for_long_replays() -> None:
    """Both commands may replay the whole log: fewer collector passes, and a heap that does not creep."""
    tune_for_throughput()
    keep_large_blocks_out_of_the_heap()


@projections.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Each projection's generation, stored offsets and lag behind the broker's end offsets."""
    settings = settings_of(ctx)
    engine = make_engine(settings)
    ends: dict[tuple[str, int], int] | None = None
    try:
        ends = make_log_end(settings)()
    except HubError as exc:  # status must still show what the database knows
        click.echo(f"(broker unavailable, lag unknown: {exc})", err=True)
    for p in projection_status(engine, list(PROJECTIONS), ends):
        if p["generation"] is None:
            click.echo(f"{p['name']}: never run")
            continue
        building = f", rebuilding into g{p['building_generation']}" if p["building_generation"] else ""
        lag = "?" if p["lag"] is None else p["lag"]
        click.echo(
            f"{p['name']}: generation {p['generation']} (v{p['version']}){building}; "
            f"applied through {p['applied']} records; lag {lag}"
        )
        for part in p["partitions"]:
            end = f" end {part['end']}" if part["end"] is not None else ""
            click.echo(f"  {part['topic']}[{part['partition']}] next {part['next']}{end}")
    engine.dispose()
