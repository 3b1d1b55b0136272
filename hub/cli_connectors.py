"""``hub connectors list|status|run|reset-cursor`` and ``hub simulators run``."""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Any

import click

from connectors.registry import CONNECTORS, build_upstream
from hub.bootstrap import make_codec, make_connector_runner, make_engine
from hub.cli_context import settings_of
from hub.connector_state import ConnectorStateStore
from hub.kafka_log import KafkaEventLog, ensure_topics, hub_topics

__all__ = ["connectors", "simulators"]


def _known(name: str) -> str:
    if name not in CONNECTORS:
        raise click.BadParameter(f"unknown connector {name!r} (known: {', '.join(CONNECTORS)})")
    return name


@click.group()
def connectors() -> None:
    """Connectors that turn external systems' records into dossier events."""


@connectors.command("list")
@click.pass_context
def list_connectors(ctx: click.Context) -> None:
    """Every connector and the endpoint it is configured for."""
    settings = settings_of(ctx)
    for spec in CONNECTORS.values():
        click.echo(f"{spec.name:<10} {spec.endpoint(settings):<40} {spec.description}")


@connectors.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Cursor, breaker state, counters and last error of each connector that has run."""
    store = ConnectorStateStore(make_engine(settings_of(ctx)))
    states = {s.name: s for s in store.all()}
    for name in CONNECTORS:
        state = states.get(name)
        if state is None:
            click.echo(f"{name}: never run")
            continue
        counters = " ".join(f"{k}={v}" for k, v in state.counters.items())
        click.echo(f"{name}: cursor {state.cursor} breaker {state.breaker_state} updated {state.updated_at}")
        click.echo(f"  {counters}")
        if state.last_error:
            click.echo(f"  last error: {state.last_error}")


@connectors.command("run")
@click.argument("name", callback=lambda ctx, param, value: _known(value))
@click.option("--idle-exit", type=float, help="Stop once the upstream has had nothing new for this many seconds.")
@click.pass_context
def run(ctx: click.Context, name: str, idle_exit: float | None) -> None:
    """Poll the upstream and publish its events until stopped (SIGTERM/Ctrl-C finish the page first)."""
    settings = settings_of(ctx)
    ensure_topics(settings, hub_topics(settings))
    log = KafkaEventLog(settings, make_codec(settings))
    runner = make_connector_runner(build_upstream(name, settings), settings, log)
    stop = [False]

    def handler(signum: int, frame: Any) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    started = time.monotonic()
    before = dict(runner.state.counters)  # status keeps lifetime totals; this summary is about this run
    click.echo(f"{name}: reading {CONNECTORS[name].endpoint(settings)} from cursor {runner.state.cursor}", err=True)
    try:
        state = runner.run(should_stop=lambda: stop[0], idle_exit_s=idle_exit)
    finally:
        log.close()
    c = {k: v - before.get(k, 0) for k, v in state.counters.items()}
    rate = c["records_read"] / max(time.monotonic() - started, 1e-9)
    click.echo(
        f"{name}: cursor {state.cursor}; {c['records_read']} records read, {c['events_produced']} events, "
        f"{c['parked']} parked, {c['failures']} failed calls, {c['retries']} retries ({rate:.0f} records/s)"
    )


@connectors.command("reset-cursor")
@click.argument("name", callback=lambda ctx, param, value: _known(value))
@click.option("--to", "cursor", required=True, help="The cursor to resume from ('' = the beginning).")
@click.pass_context
def reset_cursor(ctx: click.Context, name: str, cursor: str) -> None:
    """Move a connector's cursor (stop the connector first); replays are harmless: event ids repeat."""
    store = ConnectorStateStore(make_engine(settings_of(ctx)))
    state = store.load(name)
    previous = state.cursor
    state.cursor = cursor or None
    store.save(state)
    click.echo(f"{name}: cursor {previous} -> {state.cursor}")


@click.group()
def simulators() -> None:
    """Faithful stand-ins of the external systems, on loopback (demo and tests)."""


@simulators.command("run")
@click.argument("name", type=click.Choice(["onestop", "dvcqg", "paygov", "vnpost"]))
@click.option("--port", type=int, help="Default: 8090 (one-stop), 8091 (DVCQG), 8092 (PayGov), 8093 (VNPost).")
@click.option("--dossiers", default=2000, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@click.option("--faults", type=click.Choice(["none", "realistic"]), default="none", show_default=True)
@click.option(
    "--callback-url",
    help="PayGov/VNPost: where to push callbacks (e.g. http://127.0.0.1:8095/callbacks/paygov/ipn).",
)
def run_simulator(name: str, port: int | None, dossiers: int, seed: int, faults: str, callback_url: str | None) -> None:
    """Serve a simulated system until Ctrl-C (the DVCQG one mirrors the one-stop world of the same seed;
    PayGov and VNPost serve whatever the hub orders, with the test secrets printed)."""
    from connectors.onestop.world import build_world

    world = build_world(dossiers, seed)
    with contextlib.ExitStack() as stack:
        if name == "paygov":
            from connectors.paygov.simulator import PayGovFaults, PayGovSimulator

            pay_faults = PayGovFaults.realistic() if faults == "realistic" else PayGovFaults()
            pay = stack.enter_context(
                PayGovSimulator(pay_faults, callback_url=callback_url, seed=seed, port=port or 8092)
            )
            click.echo(
                f"PayGov simulator: {pay.url} (merchant {pay.merchant_code}, secret {pay.secret}; faults {faults})"
            )
        elif name == "vnpost":
            from connectors.vnpost.simulator import VnpostFaults, VnpostSimulator

            post_faults = VnpostFaults.realistic() if faults == "realistic" else VnpostFaults()
            post = stack.enter_context(
                VnpostSimulator(post_faults, callback_url=callback_url, seed=seed, port=port or 8093)
            )
            click.echo(
                f"VNPost simulator: {post.url} (customer {post.customer_code}, secret {post.secret}; faults {faults})"
            )
        elif name == "onestop":
            from connectors.onestop.simulator import Faults, OnestopSimulator

            chosen = Faults.realistic() if faults == "realistic" else Faults()
            sim = stack.enter_context(OnestopSimulator(world, chosen, port=port or 8090))
            click.echo(
                f"one-stop simulator: {sim.wsdl_url} ({len(world.changes)} changes of {dossiers} dossiers, "
                f"faults {faults})"
            )
        else:
            from connectors.dvcqg.simulator import PortalFaults, PortalSimulator
            from connectors.dvcqg.world import build_portal_world

            portal = build_portal_world(world, seed)
            chosen_portal = PortalFaults.realistic() if faults == "realistic" else PortalFaults()
            psim = stack.enter_context(PortalSimulator(portal, chosen_portal, port=port or 8091))
            click.echo(
                f"DVCQG simulator: {psim.url} (client id {psim.client_id}, secret {psim.client_secret}; "
                f"{len(portal.records)} feed records, faults {faults})"
            )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
