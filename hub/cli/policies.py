"""``hub policies list|run|status``, ``hub reconcile dvcqg|payments|postal`` and ``hub callbacks serve``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from hub import bootstrap
from hub.bootstrap import POLICIES, Periodic, make_engine, make_log
from hub.cli.context import one_of, settings_of
from hub.errors import MissingProjectionError
from hub.log.kafka_log import ensure_topics, hub_topics
from hub.process.stop_signals import stop_on_signals
from hub.services.policy_status import policy_status
from hub.store.projection_store import wait_for_tables

if TYPE_CHECKING:
    from hub.services.reconciliations import Outcome

__all__ = ["callbacks", "policies", "reconcile"]


@click.group()
def policies() -> None:
    """Policies: code that calls external systems because of dossier events (never during a replay)."""


@policies.command("list")
def list_policies() -> None:
    """Every policy the hub can run."""
    for spec in POLICIES.values():
        click.echo(f"{spec.name:<14} {spec.description}")


@policies.command("run")
@click.argument("name", callback=one_of(POLICIES, "policy"))
@click.option("--idle-exit", type=float, help="Stop once there has been nothing to send for this many seconds.")
@click.option(
    "--reconcile-every",
    type=float,
    help="dvcqg-mirror, results-sync: seconds between reconciliations (HUB_DVCQG_RECONCILE_INTERVAL_S, "
    "HUB_RESULTS_RECONCILE_INTERVAL_S; 0: off).",
)
@click.pass_context
def run(ctx: click.Context, name: str, idle_exit: float | None, reconcile_every: float | None) -> None:
    """Run a policy until stopped (SIGTERM/Ctrl-C finish the pass in flight). Needs `hub projections run`
    on the same read store: policies act on the projections (dossier_state, timeline, payments, postal)."""
    settings = settings_of(ctx)
    stop = stop_on_signals()
    engine = make_engine(settings)
    try:
        ready = wait_for_tables(
            engine,
            POLICIES[name].reads,
            should_stop=stop,
            say=lambda missing: click.echo(
                f"{name}: waiting for `hub projections run` to create the tables of {', '.join(missing)}", err=True
            ),
        )
    finally:
        engine.dispose()
    if not ready:
        return
    ensure_topics(settings, hub_topics(settings))
    log = make_log(settings)
    spec = POLICIES[name]
    policy = spec.build(settings, log)
    every: Periodic = []
    if spec.checks is None:
        click.echo(f"{name}: {spec.description}", err=True)
    else:
        what, every = spec.checks(
            settings, policy, log, reconcile_every, lambda line: click.echo(f"{name}: {line}", err=True)
        )
        click.echo(f"{name}: {spec.description} ({what})", err=True)
    try:
        counters = policy.run(
            should_stop=stop, idle_exit_s=idle_exit, interval_s=settings.policy_interval_s, every=every
        )
    finally:
        policy.close()
        log.close()
    click.echo(f"{name}: " + " ".join(f"{k}={v}" for k, v in sorted(counters.items())))


@policies.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """What each policy tracks, where it is behind, and what it refused."""
    settings = settings_of(ctx)
    try:
        now = policy_status(make_engine(settings), max_attempts=settings.policy_max_attempts)
    except MissingProjectionError as exc:
        raise click.ClickException(str(exc)) from exc

    def by(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {name}" for name, n in counts.items()) or "none"

    click.echo(
        f"dvcqg-mirror: {now.mirror_tracked} dossiers tracked, {now.mirror_behind} behind, {now.mirror_failing} failing"
    )
    click.echo(
        f"paygov-payments: payments {by(now.payments_by_state)}; {now.payments_awaiting_outcome} awaiting an "
        f"outcome, {now.payments_parked} parked; refused callbacks: {json.dumps(now.paygov_refusals)}"
    )
    click.echo(f"results-sync: results {by(now.results_by_state)}")
    click.echo(
        f"vnpost-orders: items {by(now.postal_items_by_state)}; {now.postal_orders_failing} orders failing; "
        f"refused callbacks: {json.dumps(now.vnpost_refusals)}"
    )


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
    outcome = bootstrap.reconcile_dvcqg(
        settings_of(ctx),
        codes=codes,
        repair=not no_repair,
        progress=lambda r: click.echo(f"checked {r.checked}, divergent {r.divergent}", err=True),
    )
    show_outcome(ctx, "", outcome, as_json)


def show_outcome(ctx: click.Context, system: str, outcome: Outcome, as_json: bool) -> None:
    """Print a reconciliation's lines and summary; exit 1 when anything still disagrees."""
    for line in outcome.lines:
        click.echo(line)
    summary = outcome.summary
    prefix = f"{system}: " if system else ""
    click.echo(json.dumps(summary) if as_json else prefix + " ".join(f"{k}={v}" for k, v in summary.items()))
    ctx.exit(1 if outcome.unresolved else 0)


@reconcile.command("payments")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def reconcile_payments_command(ctx: click.Context, as_json: bool) -> None:
    """Compare the hub's fees and payments with PayGov's settlement statement: each mismatch is a
    DivergenceDetected event and a report line. Exit 1 when any remains."""
    show_outcome(ctx, "payments", bootstrap.reconcile_payments(settings_of(ctx)), as_json)


@reconcile.command("postal")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def reconcile_postal_command(ctx: click.Context, as_json: bool) -> None:
    """Compare the hub's postal items with VNPost's orders: each mismatch is a DivergenceDetected
    event and a report line. Exit 1 when any remains."""
    show_outcome(ctx, "postal", bootstrap.reconcile_postal(settings_of(ctx)), as_json)


@click.group()
def callbacks() -> None:
    """The endpoint PayGov (IPN) and VNPost (tracking) push to."""


@callbacks.command("serve")
@click.pass_context
def callbacks_serve(ctx: click.Context) -> None:
    """Serve /callbacks/paygov/ipn and /callbacks/vnpost/tracking on HUB_CALLBACK_HOST:HUB_CALLBACK_PORT
    until stopped. Needs the PayGov and VNPost secrets (HUB_PAYGOV_SECRET, HUB_VNPOST_SECRET or *_FILE)."""
    # The HTTP server and app are imported when served, not by every `hub` command.
    from hub.api.callbacks import build_callback_app
    from hub.api.serving import serve

    settings = settings_of(ctx)
    ensure_topics(settings, hub_topics(settings))
    log = make_log(settings)
    try:
        app = build_callback_app(settings, log)
        click.echo(f"callbacks: listening on http://{settings.callback_host}:{settings.callback_port}", err=True)
        serve(app, settings.callback_host, settings.callback_port, settings)
    finally:
        log.close()
