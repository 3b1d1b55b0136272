"""``hub results status|resync`` and ``hub reconcile results``: the digitised results sync."""

from __future__ import annotations

import click
import sqlalchemy as sa

from hub.bootstrap import make_engine, reconcile_results
from hub.cli.context import settings_of
from hub.cli.policies import show_outcome
from hub.errors import MissingProjectionError
from hub.services.results_resync import RESYNC_STATES, resync_results
from projections.registry import active_table
from projections.results import RESULT_STATES

__all__ = ["reconcile_results_command", "results"]


@click.group()
def results() -> None:
    """Digitised results and their copies in the citizen's national data store."""


def _table(engine: sa.Engine) -> sa.Table:
    with engine.connect() as conn:
        try:
            return active_table(conn, "results")
        except MissingProjectionError as exc:
            raise click.ClickException(str(exc)) from exc


@results.command("status")
@click.option("--state", type=click.Choice(RESULT_STATES), help="List the results in this state.")
@click.option("--limit", default=20, show_default=True, help="Most results listed.")
@click.pass_context
def status(ctx: click.Context, state: str | None, limit: int) -> None:
    """Results by state; with --state, the results in it (code, dossier, attempts, last error)."""
    engine = make_engine(settings_of(ctx))
    t = _table(engine)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all())
        click.echo("results: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in RESULT_STATES))
        if state:
            query = sa.select(t.c.result_code, t.c.dossier_code, t.c.attempts, t.c.last_error, t.c.drift)
            for code, dossier, attempts, error, drift in conn.execute(
                query.where(t.c.state == state).order_by(t.c.digitised_at).limit(limit)
            ):
                detail = error or drift or ""
                click.echo(f"{code}  {dossier}  attempts {attempts}  {detail}")


@results.command("resync")
@click.option("--state", type=click.Choice(RESYNC_STATES), default="failed", show_default=True)
@click.option("--agency", help="Only results of this agency (agency_code).")
@click.option("--dossier", help="Only results of this dossier.")
@click.pass_context
def resync(ctx: click.Context, state: str, agency: str | None, dossier: str | None) -> None:
    """Clear the retry state of matching results so the running results-sync sends them again now
    (parked ones included)."""
    engine = make_engine(settings_of(ctx))
    try:
        count = resync_results(engine, state, agency=agency, dossier=dossier)
    except MissingProjectionError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{count} {state} result(s) will be sent again by the results-sync policy")


@click.command("results")
@click.option("--no-onestop", is_flag=True, help="Compare only the hub and the national data store.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.pass_context
def reconcile_results_command(ctx: click.Context, no_onestop: bool, as_json: bool) -> None:
    """Compare the one-stop's results, the hub's and the national data store's: each difference is a
    report line and an event; drift is repaired by the running results-sync. Exit 1 when any."""
    show_outcome(ctx, "results", reconcile_results(settings_of(ctx), with_onestop=not no_onestop), as_json)
