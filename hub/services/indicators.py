"""The figures provinces report, computed from the dossier state instead of typed into spreadsheets.

For a period (local days, Asia/Ho_Chi_Minh, from the first day to the last inclusive) and per agency
plus ``ALL``:
- receipts: ``carried_over`` (received before the period, not resolved, withdrawn or stopped before
  it), ``received`` by channel (direct at the counter, online, postal), ``to_resolve``;
- resolution: ``resolved`` (result issued in the period), of which ``before_due``, ``on_due``,
  ``overdue`` (on the legal due date, citizen supplement time excluded, a second supplement request
  counts as overdue: Decision 766) and ``no_due_date``; ``withdrawn``, ``stopped`` in the period;
  ``in_progress`` at its end; ``refused`` (refused at reception, never received);
- satisfaction: ratings given in the period;
- 766: each indicator with its numerator and denominator: on-time rate, average handling days
  (citizen supplement time excluded), online submission rate, online payment rate among
  fee-bearing dossiers received, digitisation rate of results, national sync rate.
Dossiers without a receipt (refused at the counter) enter only ``refused``.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.domain.events import LOCAL_TZ
from hub.errors import HubError
from hub.store.utc import aware
from projections.registry import active_table

__all__ = ["GROUPS", "Period", "build_report", "period_of", "select_groups"]

GROUPS: dict[str, list[str]] = {
    "receipts": ["carried_over", "received_direct", "received_online", "received_postal", "received", "to_resolve"],
    "resolution": [
        "resolved", "before_due", "on_due", "overdue", "no_due_date", "before_due_pct", "on_due_pct", "overdue_pct",
        "in_progress", "withdrawn", "stopped", "refused",
    ],
    "satisfaction": [
        "rated", "very_satisfied", "satisfied", "not_satisfied", "very_satisfied_pct", "satisfied_pct",
        "not_satisfied_pct",
    ],
    "766": [
        f"{name}{suffix}"
        for name in (
            "on_time_rate", "average_handling_days", "online_submission_rate", "online_payment_rate",
            "digitisation_rate", "national_sync_rate",
        )
        for suffix in ("", "_numerator", "_denominator")
    ],
}  # fmt: skip


@dataclass(frozen=True)
class Period:
    kind: str  # day, month, quarter, year, range
    first: date
    last: date  # inclusive

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local midnight of the first day to local midnight after the last."""
        start = datetime.combine(self.first, time(), LOCAL_TZ).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(), LOCAL_TZ).astimezone(UTC)
        return start, end

    def as_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "time_zone": "Asia/Ho_Chi_Minh",
        }


def period_of(kind: str, on: date | None = None, first: date | None = None, last: date | None = None) -> Period:
    """``kind`` day/month/quarter/year containing ``on`` (default: today, local), or ``range`` first..last."""
    if kind == "range":
        if first is None or last is None or last < first:
            raise HubError("a range needs --from and --to, the second not before the first")
        return Period("range", first, last)
    on = on or datetime.now(LOCAL_TZ).date()
    if kind == "day":
        return Period(kind, on, on)
    if kind == "month":
        return Period(kind, on.replace(day=1), on.replace(day=calendar.monthrange(on.year, on.month)[1]))
    if kind == "quarter":
        start_month = 3 * ((on.month - 1) // 3) + 1
        end = date(on.year, start_month + 2, calendar.monthrange(on.year, start_month + 2)[1])
        return Period(kind, date(on.year, start_month, 1), end)
    if kind == "year":
        return Period(kind, date(on.year, 1, 1), date(on.year, 12, 31))
    raise HubError(f"unknown period {kind!r}: day, month, quarter, year or range")


def _state_table(engine: Engine) -> sa.Table:
    with engine.connect() as conn:
        return active_table(conn, "dossier_state")


def _between(column: sa.ColumnElement[Any], start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(column >= start, column < end)


def _counts(t: sa.Table, start: datetime, end: datetime) -> dict[str, sa.ColumnElement[bool]]:
    c = t.c
    received = _between(c.received_at, start, end)
    held = sa.and_(c.received_at.is_not(None), c.received_at < end)
    resolved = sa.and_(held, _between(c.finished_at, start, end))
    still_open = sa.and_(
        *(sa.or_(col.is_(None), col >= start) for col in (c.finished_at, c.withdrawn_at, c.stopped_at))
    )
    rated = _between(c.rated_at, start, end)
    fee_bearing = sa.and_(received, c.fee_total_vnd > 0)
    return {
        "carried_over": sa.and_(c.received_at < start, still_open),
        "received": received,
        "received_direct": sa.and_(received, c.channel == "DIRECT"),
        "received_online": sa.and_(received, c.channel == "ONLINE"),
        "received_postal": sa.and_(received, c.channel == "POSTAL"),
        "resolved": resolved,
        **{o: sa.and_(resolved, c.outcome == o) for o in ("before_due", "on_due", "overdue", "no_due_date")},
        "withdrawn": sa.and_(held, _between(c.withdrawn_at, start, end)),
        "stopped": sa.and_(held, _between(c.stopped_at, start, end)),
        "refused": sa.and_(c.received_at.is_(None), _between(c.refused_at, start, end)),
        "rated": sa.and_(rated, c.satisfaction.in_(["VERY_SATISFIED", "SATISFIED", "NOT_SATISFIED"])),
        **{r.lower(): sa.and_(rated, c.satisfaction == r) for r in ("VERY_SATISFIED", "SATISFIED", "NOT_SATISFIED")},
        "fee_bearing": fee_bearing,
        "paid_online": sa.and_(fee_bearing, c.paid_total_vnd >= c.fee_total_vnd),
        "digitised": sa.and_(resolved, c.digitised_results > 0),
        "synced_national": sa.and_(received, c.mirror_version > 0, c.mirror_version >= c.portal_version),
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _row(agency: str, n: dict[str, int], handling_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agency": agency,
        **{k: v for k, v in n.items() if k not in ("fee_bearing", "paid_online", "digitised", "synced_national")},
    }
    out["to_resolve"] = n["carried_over"] + n["received"]
    out["in_progress"] = out["to_resolve"] - n["resolved"] - n["withdrawn"] - n["stopped"]
    for name in ("before_due", "on_due", "overdue"):
        out[f"{name}_pct"] = _pct(n[name], n["resolved"])
    for name in ("very_satisfied", "satisfied", "not_satisfied"):
        out[f"{name}_pct"] = _pct(n[name], n["rated"])
    ratios = {
        "on_time_rate": (n["before_due"] + n["on_due"], n["resolved"]),
        "average_handling_days": (round(handling_s / 86400, 4), n["resolved"]),
        "online_submission_rate": (n["received_online"], n["received"]),
        "online_payment_rate": (n["paid_online"], n["fee_bearing"]),
        "digitisation_rate": (n["digitised"], n["resolved"]),
        "national_sync_rate": (n["synced_national"], n["received"]),
    }
    for name, (numerator, denominator) in ratios.items():
        out[f"{name}_numerator"], out[f"{name}_denominator"] = numerator, denominator
        if name == "average_handling_days":
            out[name] = round(numerator / denominator, 2) if denominator else None
        else:
            out[name] = _pct(int(numerator), denominator)
    return out


def build_report(engine: Engine, period: Period, agency: str | None = None) -> dict[str, Any]:
    """``{"period": ..., "rows": [one per agency, then "ALL"]}`` with every figure of every group."""
    t = _state_table(engine)
    start, end = period.bounds
    conditions = _counts(t, start, end)
    counts = [sa.func.sum(sa.case((cond, 1), else_=0)).label(name) for name, cond in conditions.items()]
    query = sa.select(t.c.agency_code, *counts).group_by(t.c.agency_code)
    resolved_rows = sa.select(t.c.agency_code, t.c.received_at, t.c.finished_at, t.c.supplement_seconds).where(
        conditions["resolved"]
    )
    if agency:
        query, resolved_rows = query.where(t.c.agency_code == agency), resolved_rows.where(t.c.agency_code == agency)
    with engine.connect() as conn:
        by_agency = {
            r.agency_code or "UNKNOWN": {k: int(v or 0) for k, v in r._mapping.items() if k != "agency_code"}
            for r in conn.execute(query)
        }
        handling: dict[str, float] = defaultdict(float)
        for code, received, finished, supplement in conn.execute(resolved_rows):
            seconds = (aware(finished) - aware(received)).total_seconds() - (supplement or 0)
            handling[code or "UNKNOWN"] += max(seconds, 0.0)
    rows = [_row(code, n, handling[code]) for code, n in sorted(by_agency.items()) if any(n.values())]
    total = {name: sum(n[name] for n in by_agency.values()) for name in conditions}
    rows.append(_row("ALL", total, sum(handling.values())))
    return {"period": period.as_json() | ({"agency": agency} if agency else {}), "rows": rows}


def select_groups(found: dict[str, Any], groups: Sequence[str] = ()) -> dict[str, Any]:
    """The report with only the figures of ``groups`` (default all), as `hub report` and the API give it."""
    keys = [k for g in (groups or tuple(GROUPS)) for k in GROUPS[g]]
    return {
        "period": found["period"],
        "rows": [{"agency": r["agency"], **{k: r[k] for k in keys}} for r in found["rows"]],
    }
