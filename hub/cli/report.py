"""``hub report``: receipts, resolution, satisfaction and Decision 766 figures for a period."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from typing import Any

import click

from hub.bootstrap import make_engine
from hub.cli.context import settings_of
from hub.errors import HubError
from hub.services.indicators import build_report, period_of, select_groups

__all__ = ["report"]


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from None


@click.command()
@click.option(
    "--period", "kind", type=click.Choice(["day", "month", "quarter", "year"]), default="month", show_default=True
)
@click.option("--on", "on", callback=_date, help="A day in the period (YYYY-MM-DD, local); default today.")
@click.option("--from", "first", callback=_date, help="First day of a custom range (with --to; overrides --period).")
@click.option("--to", "last", callback=_date, help="Last day of a custom range, inclusive.")
@click.option("--agency", help="Only this agency (agency_code); the ALL row is then that agency.")
@click.option(
    "--only",
    "groups",
    multiple=True,
    type=click.Choice(["receipts", "resolution", "satisfaction", "766"]),
    help="Only these groups of figures (repeatable); default all.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_context
def report(
    ctx: click.Context,
    kind: str,
    on: date | None,
    first: date | None,
    last: date | None,
    agency: str | None,
    groups: tuple[str, ...],
    fmt: str,
) -> None:
    """The figures the one-stop centres publish, per agency and ALL, computed from the dossier state.
    Local days (Asia/Ho_Chi_Minh). Definitions: hub/services/indicators.py and the README."""

    if (first is None) != (last is None):
        raise click.UsageError("--from and --to go together")
    try:
        period = period_of("range" if first else kind, on, first, last)
        found = build_report(make_engine(settings_of(ctx), writer=False), period, agency)
    except HubError as exc:
        raise click.ClickException(str(exc)) from exc
    chosen = select_groups(found, groups)
    rows = chosen["rows"]
    keys = [k for k in rows[0] if k != "agency"]
    if fmt == "json":
        click.echo(json.dumps(chosen, ensure_ascii=False))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=["agency", *keys], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        p = found["period"]
        click.echo(f"period {p['kind']} {p['from']} .. {p['to']} (local days)")
        _table(rows, ["agency", *keys])


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _table(rows: list[dict[str, Any]], keys: list[str]) -> None:
    """One line per figure, one column per agency: readable however many figures there are."""
    agencies = [r["agency"] for r in rows]
    label = max(len(k) for k in keys)
    widths = [max(len(a), *(len(_cell(r[k])) for k in keys)) for a, r in zip(agencies, rows, strict=True)]
    click.echo(" " * label + "  " + "  ".join(a.rjust(w) for a, w in zip(agencies, widths, strict=True)))
    for key in keys[1:]:
        cells = "  ".join(_cell(r[key]).rjust(w) for r, w in zip(rows, widths, strict=True))
        click.echo(f"{key.ljust(label)}  {cells}")
