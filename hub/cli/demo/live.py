"""``hub demo``: the whole hub on loopback, running until Ctrl-C.

The embedded broker (unless HUB_KAFKA_BOOTSTRAP is set) runs in this process; every other part is
the same ``hub`` command an integrator runs, as a child process: the four simulators (the one-stop
revealing a province's dossiers as a compressed clock passes their times), the callback endpoint,
both connectors, the projections, the four policies, the monitors and the read API with the
dashboard. Children write their logs to DATA/logs; one that dies is started again (up to 5 times).
Ctrl-C (or SIGTERM) stops them all: SIGINT first, SIGKILL for any still there after 10 s.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from hub.cli.demo.workdir import claim_workdir
from hub.log.kafka_log import ensure_topics, hub_topics
from hub.monitoring.worker import monitoring_topics
from hub.process.supervisor import Supervisor
from hub.settings import Settings
from hub.store.sql_store import make_engine, migrate
from simulators.local.free_ports import free_port, wait_for_port
from simulators.local.tansu import EmbeddedBroker

__all__ = ["HUB_PROCESSES", "add_hub_processes", "child_env", "hub_variables", "prepare_hub", "run_live_demo"]

_RESTARTS = 5
_WORLD_START = "2026-03-02T07:30:00+07:00"  # simulators.onestop.world.build_world: the first dossier's morning


# Every process of a running hub (besides the simulators), by name: the demo and the system harness run these.
HUB_PROCESSES: dict[str, tuple[str, ...]] = {
    "callbacks": ("callbacks", "serve"),
    "projections": ("projections", "run"),
    "connector-onestop": ("connectors", "run", "onestop"),
    "connector-dvcqg": ("connectors", "run", "dvcqg"),
    **{
        f"policy-{p}": ("policies", "run", p)
        for p in ("dvcqg-mirror", "results-sync", "paygov-payments", "vnpost-orders")
    },
    "monitor": ("monitor", "run"),
    "api": ("api", "serve"),
}


def hub_variables(
    *,
    bootstrap: str,
    partitions: int,
    database_url: str,
    sims: dict[str, int],
    callback_port: int,
    api_port: int,
    api_keys: str,
    workdir: Path,
) -> dict[str, str]:
    """The settings (without the HUB_ prefix) of a hub on loopback against the simulators on ``sims``'
    ports, in demo mode, with short re-query, tracking and reconciliation intervals; the monitors keep
    faust's files in ``workdir``/monitor."""
    return {
        "MONITOR_DATA_DIR": str(workdir / "monitor"),
        "DEMO": "1",  # the simulators' published secrets are accepted in demo mode only
        "KAFKA_BOOTSTRAP": bootstrap,
        "TOPIC_PARTITIONS": str(partitions),
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "DATABASE_URL": database_url,
        "IDENTITY_KEY": secrets.token_hex(16),
        "ONESTOP_URL": f"http://127.0.0.1:{sims['onestop']}/",
        "DVCQG_URL": f"http://127.0.0.1:{sims['dvcqg']}/",
        "DVCQG_CLIENT_ID": "hub",
        "DVCQG_CLIENT_SECRET": "hub-secret",  # the simulators' published test secrets: demo only
        "PAYGOV_URL": f"http://127.0.0.1:{sims['paygov']}/",
        "PAYGOV_SECRET": "paygov-test-secret",
        "VNPOST_URL": f"http://127.0.0.1:{sims['vnpost']}/",
        "VNPOST_SECRET": "vnpost-test-secret",
        "PAYGOV_REQUERY_AFTER_S": "20",
        "PAYGOV_REQUERY_EVERY_S": "10",
        "VNPOST_TRACK_AFTER_S": "30",
        "CALLBACK_PORT": str(callback_port),
        # Every simulator calls from 127.0.0.1, one address standing for four gateways at many times real
        # speed, and the harness probes the API as fast as it can: the per-address and per-key limits
        # are set for that, not for a province.
        "CALLBACK_RATE_PER_S": "2000",
        "CALLBACK_BURST": "20000",
        "API_RATE_PER_S": "1000",
        "API_BURST": "10000",
        "API_PORT": str(api_port),
        "API_KEYS": api_keys,
        "MONITOR_SCAN_INTERVAL_S": "2",
        "MONITOR_HEALTH_INTERVAL_S": "5",
        "RESULTS_RECONCILE_INTERVAL_S": "120",
        "DVCQG_RECONCILE_INTERVAL_S": "120",
    }


def child_env(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without its own HUB_ settings, plus ``variables`` as HUB_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return env | {f"HUB_{k}": v for k, v in variables.items()} | {"PYTHONUNBUFFERED": "1"}


def prepare_hub(variables: dict[str, str]) -> tuple[Settings, sa.Engine]:
    """The settings ``variables`` make, with the hub's topics created and its read store migrated."""
    settings = Settings.model_validate({k.lower(): v for k, v in variables.items()})
    ensure_topics(settings, [*hub_topics(settings), *monitoring_topics(settings)])
    engine = make_engine(settings.database_url)
    migrate(engine)
    return settings, engine


def add_hub_processes(supervisor: Supervisor, logs: Path) -> None:
    """Every process in HUB_PROCESSES, each logging to ``logs``/NAME.log."""
    for name, args in HUB_PROCESSES.items():
        supervisor.add(name, list(args), logs / f"{name}.log")


def run_live_demo(
    settings: Settings,
    *,
    embedded: bool,
    data: Path,
    api_port: int,
    dossiers: int,
    speed: float,
    echo: Callable[[str], None],
    run_for_s: float | None = None,
) -> None:
    # SIGTERM stops as Ctrl-C does; SIGINT is set too because a shell starting us in the background
    # (`hub demo &`, a CI script) hands us SIGINT ignored, and then Ctrl-C/`kill -INT` did nothing.
    previous = {sig: signal.signal(sig, signal.default_int_handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    # The embedded broker starts empty: a read store from an earlier run would lie.
    claim_workdir(data, fresh=embedded)
    broker = EmbeddedBroker().start() if embedded else None
    supervisor: Supervisor | None = None
    try:
        bootstrap = broker.bootstrap if broker else settings.kafka_bootstrap
        echo(f"broker: {'embedded Tansu (memory) on ' if broker else ''}{bootstrap}")
        (data / "logs").mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{data / 'hub.sqlite3'}"
        viewer, operator = f"viewer-{secrets.token_hex(12)}", f"operator-{secrets.token_hex(12)}"
        base, callback_port = free_port(span=4), free_port()  # the simulators take four consecutive ports
        sims = {name: base + i for i, name in enumerate(("onestop", "dvcqg", "paygov", "vnpost"))}
        variables = hub_variables(
            bootstrap=bootstrap,
            partitions=3 if broker else settings.topic_partitions,
            database_url=database_url,
            sims=sims,
            callback_port=callback_port,
            api_port=api_port,
            api_keys=f"{viewer}=viewer,{operator}=operator",
            workdir=data,
        ) | {
            "CLOCK_SPEED": str(speed),
            "CLOCK_START": _WORLD_START,
            "CLOCK_ANCHOR": str(time.time() + 15),  # the province's day starts once the processes are up
        }
        _, engine = prepare_hub(variables)
        supervisor = Supervisor(child_env(variables), max_restarts=_RESTARTS, backoff_s=0.5, echo=echo)

        def add(name: str, *args: str) -> None:
            supervisor.add(name, list(args), data / "logs" / f"{name}.log")

        add(
            "simulators",
            "simulators", "run", "all", "--port", str(base), "--dossiers", str(dossiers), "--faults", "realistic",
            "--live", "--callback-url", f"http://127.0.0.1:{callback_port}",
        )  # fmt: skip
        add_hub_processes(supervisor, data / "logs")
        supervisor.start()
        echo(f"started {len(supervisor.children)} processes; their logs: {data / 'logs'}")
        wait_for_port(api_port, 60, alive=supervisor.child("api").alive)
        echo(f"simulated one-stop day: {speed:g}x real time (a working day in ~{9.5 * 3600 / speed / 60:.0f} min)")
        echo(f"\ndashboard: http://127.0.0.1:{api_port}/#key={viewer}")
        echo(f"read API:  http://127.0.0.1:{api_port}/docs  (X-API-Key {viewer} viewer, {operator} operator)")
        echo("monitoring: hub monitor tail (with the same HUB_KAFKA_BOOTSTRAP)   stop: Ctrl-C\n")
        started, last_status = time.monotonic(), 0.0
        while run_for_s is None or time.monotonic() - started < run_for_s:
            time.sleep(0.5)
            supervisor.tend()
            if time.monotonic() - last_status >= 10:
                last_status = time.monotonic()
                echo(_status(engine, time.monotonic() - started))
        engine.dispose()
    except KeyboardInterrupt:
        echo("\nstopping ...")
    finally:
        if supervisor is not None:
            supervisor.stop()
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        echo(f"stopped; read store and logs kept in {data}")


def _status(engine: sa.Engine, elapsed_s: float) -> str:
    """One line: dossiers and events in the read models, per connector what it read."""
    parts: list[str] = []
    with engine.connect() as conn:
        try:
            dossiers, events = conn.exec_driver_sql(
                "SELECT count(*), coalesce(sum(event_count), 0) FROM v_dossier"
            ).one()
            parts.append(f"{dossiers} dossiers, {events} events projected")
        except sa.exc.OperationalError:
            parts.append("projections starting")
        for name, counters in conn.exec_driver_sql("SELECT name, counters FROM hub_connector_state ORDER BY name"):
            read = json.loads(counters).get("events_produced", 0)
            parts.append(f"{name} {read} events")
    return f"[{timedelta(seconds=int(elapsed_s))}] " + "; ".join(parts)
