"""SLA conditions of one dossier at one instant: a pure function of its dossier_state row.

Time conditions are judged by calendar day in Asia/Ho_Chi_Minh, as the outcome is (finished on the
due day is on time), so a dossier becomes past due when its due *day* has ended. While a supplement
request is open the dossier waits on the citizen: its time conditions are suspended (cleared with
reason ``supplement_open``) and come back against the due date the supplement moved.

Each condition carries a *basis* (the due date it is judged against, or the supplement round); the
monitor raises a condition once per basis and clears it once, so a dossier never storms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hub.domain.events import LOCAL_TZ

__all__ = ["Condition", "clear_reason", "conditions", "next_check", "raise_key"]

DUE_SOON, PAST_DUE, NO_APOLOGY, SECOND_SUPPLEMENT = (
    "DUE_SOON",
    "PAST_DUE",
    "OVERDUE_WITHOUT_APOLOGY",
    "SECOND_SUPPLEMENT",
)


@dataclass(frozen=True)
class Condition:
    kind: str
    basis: str  # what the condition is judged against; a new basis is a new condition
    threshold_at: datetime | None  # when it began to hold (None: raised by an event, not by time)


def raise_key(condition: Condition) -> str:
    return f"{condition.kind}@{condition.basis}"


def end_of_day(moment: datetime) -> datetime:
    """The local midnight that ends ``moment``'s calendar day in Vietnam."""
    day = moment.astimezone(LOCAL_TZ).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def _closed(row: Mapping[str, Any]) -> str | None:
    for column, reason in (
        ("finished_at", "resolved"),
        ("refused_at", "refused"),
        ("withdrawn_at", "withdrawn"),
        ("stopped_at", "stopped"),
    ):
        if row.get(column) is not None:
            return reason
    return None


def conditions(row: Mapping[str, Any], now: datetime, horizon: timedelta) -> list[Condition]:
    """The conditions that hold for the dossier at ``now``."""
    if _closed(row):
        return []
    found = []
    if row["supplement_rounds"] >= 2:
        found.append(Condition(SECOND_SUPPLEMENT, "2", None))
    due, legal_due = row.get("due_at"), row.get("legal_due_at")
    if row["supplement_open"] or due is None:
        return found
    if now >= end_of_day(due):
        found.append(Condition(PAST_DUE, due.isoformat(), end_of_day(due)))
    elif now >= due - horizon:
        found.append(Condition(DUE_SOON, due.isoformat(), due - horizon))
    if legal_due is not None and not row["due_extensions"] and now >= end_of_day(legal_due):
        found.append(Condition(NO_APOLOGY, legal_due.isoformat(), end_of_day(legal_due)))
    return found


def next_check(row: Mapping[str, Any], now: datetime, horizon: timedelta) -> datetime | None:
    """The next instant at which time alone can change the dossier's conditions (None: only events can)."""
    if _closed(row) or row["supplement_open"] or row.get("due_at") is None:
        return None
    due, legal_due = row["due_at"], row.get("legal_due_at")
    moments = [due - horizon, end_of_day(due)]
    if legal_due is not None and not row["due_extensions"]:
        moments.append(end_of_day(legal_due))
    future = [m for m in moments if m > now]
    return min(future).astimezone(UTC) if future else None  # UTC: SQLite compares the stored text


def clear_reason(kind: str, row: Mapping[str, Any], still: list[Condition]) -> str:
    """Why a condition no longer holds, in the words of SlaCondition.reason."""
    closed = _closed(row)
    if closed:
        return closed
    if row["supplement_open"] and kind != SECOND_SUPPLEMENT:
        return "supplement_open"
    if kind == DUE_SOON and any(c.kind == PAST_DUE for c in still):
        return "now_past_due"
    if kind == NO_APOLOGY and row["due_extensions"]:
        return "apology_recorded"
    return "due_date_moved"
