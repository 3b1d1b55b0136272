"""``hub policies list|run|status`` and ``hub reconcile dvcqg``."""

from __future__ import annotations

import json
import signal
from typing import Any

import click

from connectors.registry import POLICIES
from hub.bootstrap import make_codec
from hub.cli_context import settings_of
from hub.kafka_log import KafkaEventLog, ensure_topics, hub_topics

__all__ = ["policies", "reconcile"]


def _known(name: str) -> str:
    if name not in POLICIES:
        raise click.BadParameter(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    return name


@click.group()
def policies() -> None:
    """Policies: code that calls external systems because of dossier events (never during a replay)."""


@policies.command("list")
def list_policies() -> None:
    """Every policy the hub can run."""
    for spec in POLICIES.values():
        click.echo(f"{spec.name:<14} {spec.description}")


@policies.command("run")
@click.argument("name", callback=lambda ctx, param, value: _known(value))
@click.option("--idle-exit", type=float, help="Stop once there has been nothing to send for this many seconds.")
@click.option(
    "--reconcile-every", type=float, help="Seconds between divergence checks (HUB_DVCQG_RECONCILE_INTERVAL_S; 0: off)."
)
@click.pass_context
def run(ctx: click.Context, name: str, idle_exit: float | None, reconcile_every: float | None) -> None:
    """Run a policy until stopped (SIGTERM/Ctrl-C finish the pass in flight). Needs `hub projections run`
    on the same read store: the policy acts on the dossier_state and timeline projections."""
    from connectors.dvcqg.reconcile import reconcile as check

    settings = settings_of(ctx)
    ensure_topics(settings, hub_topics(settings))
    log = KafkaEventLog(settings, make_codec(settings))
    mirror = POLICIES[name].build(settings, log)
    stop = [False]

    def handler(signum: int, frame: Any) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    period = settings.dvcqg_reconcile_interval_s if reconcile_every is None else reconcile_every

    def periodic() -> None:
        report = check(mirror)
        click.echo(f"{name}: reconcile {json.dumps(report.summary())}", err=True)

    click.echo(f"{name}: mirroring to {settings.dvcqg_url} (divergence check every {period:.0f} s)", err=True)
    try:
        counters = mirror.run(
            should_stop=lambda: stop[0],
            idle_exit_s=idle_exit,
            interval_s=settings.policy_interval_s,
            every=[(period, periodic)],
        )
    finally:
        mirror.close()
        log.close()
    click.echo(f"{name}: " + " ".join(f"{k}={v}" for k, v in sorted(counters.items())))


@policies.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """What the national mirror tracks, and where it is behind."""
    import sqlalchemy as sa

    from connectors.dvcqg.mirror_store import MirrorStore
    from hub.bootstrap import make_engine

    engine = make_engine(settings_of(ctx))
    counts = MirrorStore(engine).counts()
    with engine.connect() as conn:
        pending = conn.execute(sa.text("SELECT count(*) FROM v_dossier WHERE mirror_pending")).scalar_one()
    click.echo(f"dvcqg-mirror: {counts['tracked']} dossiers tracked, {pending} behind, {counts['failing']} failing")


@click.group()
def reconcile() -> None:
    """Compare what external systems hold with the hub's view; report and repair differences."""


@reconcile.command("dvcqg")
@click.option("--dossier", "codes", multiple=True, help="Check only this dossier (repeatable).")
@click.option("--no-repair", is_flag=True, help="Report only; send nothing to the portal.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def reconcile_dvcqg(ctx: click.Context, codes: tuple[str, ...], no_repair: bool, as_json: bool) -> None:
    """Look up every dossier the portal acknowledged (TraCuuHoSo) and compare it with the hub: each
    difference is a DivergenceDetected event and a report line; repairable ones are re-sent. Exit 1 when
    a divergence remains (not repaired, or repaired but not kept by the portal)."""
    from connectors.dvcqg.reconcile import reconcile as check

    settings = settings_of(ctx)
    log = KafkaEventLog(settings, make_codec(settings))
    mirror = POLICIES["dvcqg-mirror"].build(settings, log)
    try:
        report = check(
            mirror,
            codes=list(codes) or None,
            repair=not no_repair,
            progress=lambda r: click.echo(f"checked {r.checked}, divergent {r.divergent}", err=True),
        )
    finally:
        mirror.close()
        log.close()
    for line in report.lines:
        click.echo(line)
    summary = report.summary()
    click.echo(json.dumps(summary) if as_json else " ".join(f"{k}={v}" for k, v in summary.items()))
    unresolved = report.divergent - report.repaired if not no_repair else report.divergent
    ctx.exit(1 if unresolved or report.lookup_failed else 0)
