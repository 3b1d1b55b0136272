"""``hub monitor run|tail``: the monitoring streams for provincial IT (hub.monitoring.*)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import click

from hub.bootstrap import make_engine
from hub.cli.context import settings_of, tail_records
from hub.log.kafka_log import ensure_topics, hub_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.monitoring.records import TOPICS, default_codec
from hub.ports import Record
from hub.process.business_clock import BusinessClock

__all__ = ["monitor"]


@click.group()
def monitor() -> None:
    """Monitoring streams: SLA conditions, connector health, refused callbacks."""


@monitor.command("run")
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the monitors (a faust worker) until Ctrl-C; workers with the same HUB_MONITOR_APP_ID share the work."""
    # faust is imported when the monitors run: it would cost every other `hub` command ~0.2 s at start-up.
    from faust.worker import Worker

    from hub.monitoring.worker import build_app, monitoring_topics

    settings = settings_of(ctx)
    ensure_topics(settings, [*hub_topics(settings), *monitoring_topics(settings)])
    clock = BusinessClock.of(settings)
    app = build_app(settings, make_engine(settings), clock)
    speed = f", SLA clock x{clock.speed:g} from {clock.now().isoformat()}" if clock.compressed else ""
    names = ", ".join(settings.monitor_topic_prefix + kind for kind in TOPICS)
    click.echo(f"monitor: {settings.dossier_topic} -> {names}{speed}")
    level = logging.getLevelName(logging.getLogger().level)
    worker = Worker(app, loglevel=level, quiet=True, redirect_stdouts=False, override_logging=False)
    worker.execute_from_commandline()


@monitor.command("tail")
@click.option(
    "--topic",
    "chosen",
    multiple=True,
    type=click.Choice(sorted(TOPICS)),
    help="Only this topic (after HUB_MONITOR_TOPIC_PREFIX; repeatable).",
)
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record instead of new ones only.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: topic, type, record.")
@click.option("--max", "limit", type=int, help="Stop after this many records.")
@click.option("--idle-exit", type=float, help="Stop after this many seconds without a new record.")
@click.pass_context
def tail(
    ctx: click.Context,
    chosen: tuple[str, ...],
    from_beginning: bool,
    as_json: bool,
    limit: int | None,
    idle_exit: float | None,
) -> None:
    """Print monitoring records decoded; undecodable ones are reported on stderr, not skipped silently."""
    settings = settings_of(ctx)
    codec = default_codec()
    prefix = settings.monitor_topic_prefix
    source = KafkaRecordSource(settings, [prefix + kind for kind in chosen or TOPICS], from_beginning=from_beginning)

    def render(record: Record) -> str:
        kind, value = codec.decode(record.value)
        if as_json:
            return json.dumps({"topic": record.topic, "type": kind, "record": value}, default=_json, ensure_ascii=False)
        return line(kind, value)

    tail_records(source, render, limit=limit, idle_exit=idle_exit)


def _json(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def line(kind: str, r: dict[str, Any]) -> str:
    """One readable line per record, for a terminal."""
    if kind.endswith("SlaCondition"):
        return (
            f"{_time(r['detected_at'])} SLA {r['condition']} {r['state']} {r['dossier_code']} "
            f"agency {r['agency_code'] or '-'} due {_time(r['due_at'])} ({r['reason']})"
        )
    if kind.endswith("HealthAlert"):
        figure = (
            f" {r['value']:.3g} vs {r['threshold']:.3g}"
            if r["value"] is not None and r["threshold"] is not None
            else ""
        )
        return f"{_time(r['at'])} HEALTH {r['component']} {r['signal']} {r['state']}{figure}: {r['detail']}"
    if kind.endswith("SecurityRefusal"):
        who = f"ref {r['reference'] or '-'} from {r['remote'] or '-'}"
        return f"{_time(r['at'])} SECURITY {r['source']} {r['kind']} {who}: {r['detail']}"
    connectors = " ".join(f"{c['name']}={c['breaker_state']}/{c['error_rate']:.0%}" for c in r["connectors"])
    sync = r["results_sync"]
    return (
        f"{_time(r['at'])} SAMPLE {connectors or 'no connectors'}; dead letters {r['dead_letters_total']} "
        f"(+{r['dead_letters_new']}); results backlog {sync['backlog']} (oldest {sync['oldest_backlog_age_s']:.0f} s); "
        f"divergences {dict(r['divergences'])}"
    )
