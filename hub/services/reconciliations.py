"""The four reconciliations as one call each, for `hub reconcile ...` and the API's operators:
compare an external system with the hub, publish each difference as a DivergenceDetected event,
repair what can be repaired, and say what remains."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hub.bootstrap import make_codec, make_engine
from hub.domain.events import SourceSystem
from hub.log.kafka_log import KafkaEventLog
from hub.settings import Settings

__all__ = ["RECONCILIATIONS", "Outcome", "run_dvcqg", "run_payments", "run_postal", "run_results"]


@dataclass(frozen=True)
class Outcome:
    summary: dict[str, Any]
    lines: list[str]
    unresolved: bool  # something still disagrees: the CLI exits 1


def run_dvcqg(
    settings: Settings,
    codes: Sequence[str] | None = None,
    repair: bool = True,
    progress: Callable[[Any], None] | None = None,
) -> Outcome:
    """National portal: every dossier it acknowledged, looked up and compared; repairable ones re-sent."""
    from connectors.dvcqg.mirror.reconcile import reconcile as check
    from connectors.registry import national_mirror

    log = KafkaEventLog(settings, make_codec(settings))
    mirror = national_mirror(settings, log)
    try:
        report = check(mirror, codes=list(codes) if codes else None, repair=repair, progress=progress)
    finally:
        mirror.close()
        log.close()
    unresolved = report.divergent - report.repaired if repair else report.divergent
    return Outcome(report.summary(), list(report.lines), bool(unresolved or report.lookup_failed))


def run_payments(settings: Settings) -> Outcome:
    """PayGov's settlement statement against the hub's fees and payments."""
    from connectors.paygov.book import PaymentBook
    from connectors.paygov.reconcile import reconcile_payments
    from connectors.registry import paygov_client

    log = KafkaEventLog(settings, make_codec(settings))
    client = paygov_client(settings)
    try:
        report = reconcile_payments(
            PaymentBook(make_engine(settings), log), client, in_flight_s=settings.paygov_requery_after_s
        )
        log.append(report.events(SourceSystem.PAYGOV))
    finally:
        client.close()
        log.close()
    return Outcome(report.summary(), [f.line() for f in report.findings], bool(report.findings))


def run_postal(settings: Settings) -> Outcome:
    """VNPost's orders against the hub's postal items."""
    from connectors.registry import vnpost_client
    from connectors.vnpost.reconcile import reconcile_postal

    log = KafkaEventLog(settings, make_codec(settings))
    client = vnpost_client(settings)
    try:
        report = reconcile_postal(make_engine(settings), client)
        log.append(report.events(SourceSystem.VNPOST))
    finally:
        client.close()
        log.close()
    return Outcome(report.summary(), [f.line() for f in report.findings], bool(report.findings))


def run_results(settings: Settings, with_onestop: bool = True) -> Outcome:
    """The one-stop's digitised results, the hub's and the national data store's; drift is repaired by
    the running results-sync."""
    from connectors.dvcqg.results.reconcile import reconcile_results
    from connectors.onestop.client import OnestopUpstream
    from connectors.registry import results_sync

    log = KafkaEventLog(settings, make_codec(settings))
    sync = results_sync(settings, log)
    try:
        onestop = OnestopUpstream(settings.onestop_url, settings.identity_key_bytes()) if with_onestop else None
        report, events = reconcile_results(sync, onestop)
        log.append(events)
    finally:
        sync.close()
        log.close()
    return Outcome(report.summary(), [f.line() for f in report.findings], bool(report.findings))


RECONCILIATIONS: dict[str, Callable[[Settings], Outcome]] = {
    "dvcqg": run_dvcqg,
    "payments": run_payments,
    "postal": run_postal,
    "results": run_results,
}
