"""The four reconciliations over built parts, for `hub reconcile ...`, the API's operators and the
policies' periodic checks: compare an external system with the hub, publish each difference as a
DivergenceDetected event, repair what can be repaired, and say what remains."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from connectors.dvcqg.mirror.policy import NationalMirror
from connectors.dvcqg.mirror.reconcile import reconcile
from connectors.dvcqg.results.reconcile import reconcile_results
from connectors.dvcqg.results.sync import ResultsSync
from connectors.onestop.client import OnestopUpstream
from connectors.paygov.book import PaymentBook
from connectors.paygov.client import PayGovClient
from connectors.paygov.reconcile import reconcile_payments
from connectors.vnpost.client import VnpostClient
from connectors.vnpost.reconcile import reconcile_postal
from hub.domain.events import SourceSystem
from hub.ports import EventLog

__all__ = [
    "Outcome",
    "reconcile_national",
    "reconcile_payment_book",
    "reconcile_postal_items",
    "reconcile_result_copies",
]


@dataclass(frozen=True)
class Outcome:
    summary: dict[str, Any]
    lines: list[str]
    unresolved: bool  # something still disagrees: the CLI exits 1


def reconcile_national(
    mirror: NationalMirror,
    *,
    codes: Sequence[str] | None = None,
    repair: bool = True,
    progress: Callable[[Any], None] | None = None,
) -> Outcome:
    """Every dossier the portal acknowledged, looked up and compared; repairable ones re-sent."""
    report = reconcile(mirror, codes=list(codes) if codes else None, repair=repair, progress=progress)
    unresolved = report.divergent - report.repaired if repair else report.divergent
    return Outcome(report.summary(), list(report.lines), bool(unresolved or report.lookup_failed))


def reconcile_payment_book(book: PaymentBook, client: PayGovClient, log: EventLog, *, in_flight_s: float) -> Outcome:
    """PayGov's settlement statement against the hub's fees and payments."""
    report = reconcile_payments(book, client, in_flight_s=in_flight_s)
    log.append(report.events(SourceSystem.PAYGOV))
    return Outcome(report.summary(), [f.line() for f in report.findings], bool(report.findings))


def reconcile_postal_items(engine: Engine, client: VnpostClient, log: EventLog) -> Outcome:
    """VNPost's orders against the hub's postal items."""
    report = reconcile_postal(engine, client)
    log.append(report.events(SourceSystem.VNPOST))
    return Outcome(report.summary(), [f.line() for f in report.findings], bool(report.findings))


def reconcile_result_copies(sync: ResultsSync, onestop: OnestopUpstream | None, log: EventLog) -> Outcome:
    """The one-stop's digitised results (when given), the hub's and the national data store's."""
    report, events = reconcile_results(sync, onestop)
    log.append(events)
    return Outcome(report.summary(), [f.line() for f in report.findings], bool(report.findings))
