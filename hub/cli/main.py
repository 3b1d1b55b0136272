"""The operator's command line, ``hub``: the top-level group with ``schemas``, ``topics``, ``events`` and
``demo``, and every other command group registered from its own module."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from hub.bootstrap import make_codec, make_schemas
from hub.cli.api import api, keys
from hub.cli.connectors import connectors, simulators
from hub.cli.context import settings_of, tail_records
from hub.cli.event_text import event_line
from hub.cli.monitor import monitor
from hub.cli.policies import callbacks, policies, reconcile
from hub.cli.projections import projections
from hub.cli.report import report
from hub.cli.results import reconcile_results_command, results
from hub.domain.events import Event
from hub.errors import EventValidationError, HubError
from hub.log.compat import check_schema_set, unpublished
from hub.log.event_json import event_from_json, event_to_json
from hub.log.kafka_log import KafkaEventLog, ensure_topics, hub_topics
from hub.log.kafka_source import KafkaRecordSource
from hub.monitoring.records import MonitoringCodec
from hub.ports import Record
from hub.process.log_setup import configure_logging
from hub.settings import Settings

__all__ = ["main"]


@click.group()
@click.option("--log-level", default="WARNING", show_default=True, help="Python logging level.")
@click.option(
    "--log-format",
    envvar="HUB_LOG_FORMAT",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or JSON (HUB_LOG_FORMAT).",
)
@click.option("--bootstrap", envvar="HUB_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers (HUB_KAFKA_BOOTSTRAP).")
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_format: str, bootstrap: str | None) -> None:
    """motcua-hub: one event log for a dossier's whole life across one-stop, DVCQG, PayGov and VNPost."""
    configure_logging(log_level, log_format)
    settings = Settings()
    ctx.obj = settings.model_copy(update={"kafka_bootstrap": bootstrap}) if bootstrap else settings


# -- schemas ----------------------------------------------------------------------------------


@cli.group()
def schemas() -> None:
    """The Avro contract in schemas/: check evolution, publish versions."""


@schemas.command("check")
@click.option("--dir", "root", type=click.Path(path_type=Path, file_okay=False), help="Schema root to check.")
@click.pass_context
def schemas_check(ctx: click.Context, root: Path | None) -> None:
    """Exit non-zero, naming each field, if the schemas are not BACKWARD compatible with every published version."""
    settings = settings_of(ctx)
    schema_set = make_schemas(settings.model_copy(update={"schemas_dir": root}) if root else settings)
    problems = check_schema_set(schema_set)
    versions = ", ".join(f"v{v.version}" for v in schema_set.history) or "none"
    for problem in problems:
        click.echo(f"INCOMPATIBLE {problem}", err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} incompatible change(s) against published versions ({versions})")
    pending = unpublished(schema_set)
    note = " (working copy differs from the latest: run 'hub schemas freeze' when you release it)" if pending else ""
    click.echo(f"schemas OK: {len(schema_set.payload_types)} event types, compatible with {versions}{note}")

    monitoring = MonitoringCodec(schema_set.root)  # a ConfigError names the file that does not parse
    click.echo(f"monitoring schemas OK: {len(monitoring.versions)} record types")


@schemas.command("freeze")
@click.pass_context
def schemas_freeze(ctx: click.Context) -> None:
    """Publish the working schema as the next version in schemas/history (after a passing check)."""
    schema_set = make_schemas(settings_of(ctx))
    problems = check_schema_set(schema_set)
    if problems:
        raise click.ClickException("refusing to freeze an incompatible schema; run 'hub schemas check'")
    version = schema_set.freeze()
    click.echo(f"published v{version.version}" if version else "nothing to publish: unchanged since the latest")


# -- topics -----------------------------------------------------------------------------------


@cli.group()
def topics() -> None:
    """Kafka topics the hub owns."""


@topics.command("create")
@click.pass_context
def topics_create(ctx: click.Context) -> None:
    """Create the dossier-events and dead-letter topics if missing (partitions/replication from settings)."""
    settings = settings_of(ctx)
    for name, outcome in ensure_topics(settings, hub_topics(settings)).items():
        click.echo(f"{name}: {outcome}")


# -- events -----------------------------------------------------------------------------------


@cli.group()
def events() -> None:
    """Publish and read dossier events."""


def _read_jsonl(path: Path, parse: Any) -> Iterator[tuple[int, Event | str]]:
    """(line number, event or error text) for every non-blank line."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, parse(json.loads(line))
            except json.JSONDecodeError as exc:
                yield number, f"not JSON: {exc.msg} at column {exc.colno}"
            except EventValidationError as exc:
                yield number, str(exc)


@events.command("publish")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch", default=1000, show_default=True, help="Events per acknowledged batch.")
@click.pass_context
def events_publish(ctx: click.Context, file: Path, batch: int) -> None:
    """Validate FILE.jsonl against the schemas and publish the good lines; report every bad one."""
    settings = settings_of(ctx)
    schema_set = make_schemas(settings)
    key = settings.identity_key_bytes() if (settings.identity_key or settings.identity_key_file) else None
    ensure_topics(settings, hub_topics(settings))
    log = KafkaEventLog(settings, make_codec(settings, schema_set))
    pending: list[Event] = []
    published = bad = 0
    started = time.monotonic()
    try:
        for number, item in _read_jsonl(file, lambda obj: event_from_json(obj, schema_set, identity_key=key)):
            if isinstance(item, str):
                bad += 1
                click.echo(f"{file}:{number}: {item}", err=True)
                continue
            pending.append(item)
            if len(pending) >= batch:
                log.append(pending)
                published += len(pending)
                pending = []
                click.echo(f"  {published} published...", err=True)
        if pending:
            log.append(pending)
            published += len(pending)
    finally:
        log.close()
    rate = published / max(time.monotonic() - started, 1e-9)
    click.echo(f"published {published} event(s) to {settings.dossier_topic} ({rate:.0f}/s); {bad} bad line(s)")
    if bad:
        sys.exit(1)


@events.command("tail")
@click.option("--dossier", help="Only this dossier code.")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest event instead of new ones only.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (reads back with publish).")
@click.option("--max", "limit", type=int, help="Stop after this many events.")
@click.option("--idle-exit", type=float, help="Stop after this many seconds without a new message.")
@click.pass_context
def events_tail(
    ctx: click.Context,
    dossier: str | None,
    from_beginning: bool,
    as_json: bool,
    limit: int | None,
    idle_exit: float | None,
) -> None:
    """Print decoded events as they arrive; undecodable ones are reported on stderr, not skipped silently."""
    settings = settings_of(ctx)
    codec = make_codec(settings)
    source = KafkaRecordSource(settings, [settings.dossier_topic], from_beginning=from_beginning)

    def render(record: Record) -> str | None:
        if dossier and record.key != dossier.encode():
            return None
        event = codec.decode(record.value)
        return json.dumps(event_to_json(event), ensure_ascii=False) if as_json else event_line(event)

    tail_records(source, render, limit=limit, idle_exit=idle_exit)


# -- demo -------------------------------------------------------------------------------------


@cli.command("demo")
@click.option(
    "--embedded/--external",
    default=None,
    help="Start the embedded broker, or use HUB_KAFKA_BOOTSTRAP (default: embedded unless that is set).",
)
@click.option("--tour", is_flag=True, help="A scripted walk through every part that prints what happens and exits.")
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".hub-demo"),
    show_default=True,
    help="Read store and logs (emptied at start with the embedded broker; --tour keeps its store there).",
)
@click.option("--port", type=int, help="Dashboard and read API port (default HUB_API_PORT, 8080).")
@click.option("--dossiers", default=2000, show_default=True, help="Dossiers in the simulated province.")
@click.option(
    "--speed", default=600.0, show_default=True, help="Business seconds per real second of the simulated province."
)
@click.option("--run-for", type=float, hidden=True, help="Stop by itself after this many seconds.")
@click.pass_context
def demo(
    ctx: click.Context,
    embedded: bool | None,
    tour: bool,
    data: Path,
    port: int | None,
    dossiers: int,
    speed: float,
    run_for: float | None,
) -> None:
    """Run the whole hub on loopback until Ctrl-C: simulators with live traffic, connectors, projections,
    policies, monitors, the read API and the dashboard (its URL is printed). --tour: the scripted walk."""
    import os

    settings = settings_of(ctx).model_copy(update={"demo": True})  # the simulators' published secrets are fine
    if embedded is None:
        embedded = "HUB_KAFKA_BOOTSTRAP" not in os.environ and not ctx.find_root().params.get("bootstrap")
    # The demo (simulators, local infrastructure) is imported when asked for, not by every command.
    if tour:
        from hub.cli.demo.tour import run_demo

        run_demo(settings, embedded=embedded, echo=click.echo, data=data)
        return
    from hub.cli.demo.live import run_live_demo

    run_live_demo(
        settings,
        embedded=embedded,
        data=data,
        api_port=port or settings.api_port,
        dossiers=dossiers,
        speed=speed,
        echo=click.echo,
        run_for_s=run_for,
    )


cli.add_command(projections)
cli.add_command(connectors)
cli.add_command(policies)
cli.add_command(reconcile)
cli.add_command(callbacks)
cli.add_command(results)
cli.add_command(report)
cli.add_command(monitor)
cli.add_command(api)
cli.add_command(keys)
reconcile.add_command(reconcile_results_command)
cli.add_command(simulators)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except HubError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
