"""``hub connectors list|status|run|reset-cursor`` and ``hub simulators run``."""

from __future__ import annotations

import contextlib
import time

import click

from hub.bootstrap import CONNECTORS, build_upstream, make_connector_runner, make_engine, make_log
from hub.cli.context import one_of, settings_of
from hub.log.kafka_log import ensure_topics, hub_topics
from hub.process.business_clock import BusinessClock
from hub.process.stop_signals import stop_on_signals
from hub.store.connector_state import ConnectorStateStore

__all__ = ["connectors", "simulators"]


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
@click.argument("name", callback=one_of(CONNECTORS, "connector"))
@click.option("--idle-exit", type=float, help="Stop once the upstream has had nothing new for this many seconds.")
@click.pass_context
def run(ctx: click.Context, name: str, idle_exit: float | None) -> None:
    """Poll the upstream and publish its events until stopped (SIGTERM/Ctrl-C finish the page first)."""
    settings = settings_of(ctx)
    ensure_topics(settings, hub_topics(settings))
    log = make_log(settings)
    runner = make_connector_runner(build_upstream(name, settings), settings, log)
    stop = stop_on_signals()
    started = time.monotonic()
    before = dict(runner.state.counters)  # status keeps lifetime totals; this summary is about this run
    click.echo(f"{name}: reading {CONNECTORS[name].endpoint(settings)} from cursor {runner.state.cursor}", err=True)
    try:
        state = runner.run(should_stop=stop, idle_exit_s=idle_exit)
    finally:
        log.close()
    c = {k: v - before.get(k, 0) for k, v in state.counters.items()}
    rate = c["records_read"] / max(time.monotonic() - started, 1e-9)
    click.echo(
        f"{name}: cursor {state.cursor}; {c['records_read']} records read, {c['events_produced']} events, "
        f"{c['parked']} parked, {c['failures']} failed calls, {c['retries']} retries ({rate:.0f} records/s)"
    )


@connectors.command("reset-cursor")
@click.argument("name", callback=one_of(CONNECTORS, "connector"))
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


_PORTS = {"onestop": 8090, "dvcqg": 8091, "paygov": 8092, "vnpost": 8093}


@simulators.command("run")
@click.argument("name", type=click.Choice(["onestop", "dvcqg", "paygov", "vnpost", "all"]))
@click.option("--port", type=int, help="Default: 8090 (one-stop), 8091 (DVCQG), 8092 (PayGov), 8093 (VNPost); "
              "with all, the first of four consecutive ports.")  # fmt: skip
@click.option("--dossiers", default=2000, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@click.option("--faults", type=click.Choice(["none", "realistic"]), default="none", show_default=True)
@click.option(
    "--callback-url",
    help="PayGov/VNPost: the hub's callback endpoint base (e.g. http://127.0.0.1:8095); the paths are added.",
)
@click.option(
    "--live",
    is_flag=True,
    help="One-stop and DVCQG: reveal their records as the business clock (HUB_CLOCK_*) passes their times: "
    "a traffic generator; without it, everything is there from the start.",
)
@click.pass_context
def run_simulator(
    ctx: click.Context,
    name: str,
    port: int | None,
    dossiers: int,
    seed: int,
    faults: str,
    callback_url: str | None,
    live: bool,
) -> None:
    """Serve simulated systems until Ctrl-C (the DVCQG one mirrors the one-stop world of the same seed;
    PayGov and VNPost serve whatever the hub orders, with the test secrets printed)."""
    # The simulators are imported when run (each only if chosen), not by every `hub` command.
    from simulators.onestop.world import build_world
    from simulators.traffic import revealed

    world = build_world(dossiers, seed)
    clock = BusinessClock.of(settings_of(ctx)) if live else None
    realistic = faults == "realistic"
    chosen = list(_PORTS) if name == "all" else [name]
    base = port if port is not None else (_PORTS["onestop"] if name == "all" else _PORTS[name])
    ports = {n: base + i for i, n in enumerate(chosen)} if name == "all" else {name: base}
    callbacks = (callback_url or "").rstrip("/")
    with contextlib.ExitStack() as stack:
        if "paygov" in chosen:
            from simulators.paygov.simulator import PayGovFaults, PayGovSimulator

            pay_url = f"{callbacks}/callbacks/paygov/ipn" if callbacks else None
            pay = stack.enter_context(
                PayGovSimulator(
                    PayGovFaults.realistic() if realistic else PayGovFaults(),
                    callback_url=pay_url,
                    seed=seed,
                    port=ports["paygov"],
                )
            )
            click.echo(
                f"PayGov simulator: {pay.url} (merchant {pay.merchant_code}, secret {pay.secret}; faults {faults})"
            )
        if "vnpost" in chosen:
            from simulators.vnpost.simulator import VnpostFaults, VnpostSimulator

            post_url = f"{callbacks}/callbacks/vnpost/tracking" if callbacks else None
            post = stack.enter_context(
                VnpostSimulator(
                    VnpostFaults.realistic() if realistic else VnpostFaults(),
                    callback_url=post_url,
                    seed=seed,
                    port=ports["vnpost"],
                )
            )
            click.echo(
                f"VNPost simulator: {post.url} (customer {post.customer_code}, secret {post.secret}; faults {faults})"
            )
        if "onestop" in chosen:
            from simulators.onestop.simulator import Faults, OnestopSimulator

            visible = revealed([c.at for c in world.changes], clock) if clock else None
            sim = stack.enter_context(
                OnestopSimulator(
                    world, Faults.realistic() if realistic else Faults(), port=ports["onestop"], visible=visible
                )
            )
            pace = f"; live, business clock x{clock.speed:g}" if clock else ""
            click.echo(
                f"one-stop simulator: {sim.wsdl_url} ({len(world.changes)} changes of {dossiers} dossiers, "
                f"faults {faults}{pace})"
            )
        if "dvcqg" in chosen:
            from simulators.dvcqg.simulator import PortalFaults, PortalSimulator
            from simulators.dvcqg.world import build_portal_world

            portal = build_portal_world(world, seed)
            shown = revealed([r.at for r in portal.records if r.at], clock) if clock else None
            psim = stack.enter_context(
                PortalSimulator(
                    portal,
                    PortalFaults.realistic() if realistic else PortalFaults(),
                    port=ports["dvcqg"],
                    visible=shown,
                )
            )
            click.echo(
                f"DVCQG simulator: {psim.url} (client id {psim.client_id}, secret {psim.client_secret}; "
                f"{len(portal.records)} feed records, faults {faults})"
            )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
