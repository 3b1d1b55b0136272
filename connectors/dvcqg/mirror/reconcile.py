"""Divergence detection: compare the portal's copy of each mirrored dossier with the hub's view, and
repair where the hub is authoritative.

Only dossiers the portal acknowledged at the hub's current version are compared (``settled``):
anything still in flight is the mirror's business, not a divergence. Each disagreement becomes a
DivergenceDetected event (field, portal value, hub value, and the known pattern it matches), with an
id derived from the dossier version and the values, so running the check again over the same state
adds nothing to the timeline. The hub is authoritative for everything it sends (status, dates,
steps): a repair re-sends them under a fresh idempotency key. Extra steps on the portal (sent twice
by some other system) are reported but cannot be repaired: the portal's API has no delete.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.dvcqg.client import PortalError
from connectors.dvcqg.mirror.payload import acknowledged_on_portal, step_key
from connectors.dvcqg.mirror.policy import NationalMirror
from connectors.dvcqg.mirror.store import Work
from hub.domain.divergence import divergence_event
from hub.domain.events import Event, EventType

__all__ = ["Divergence", "ReconcileReport", "RollingReconcile", "compare", "reconcile"]

MISREPORTED_AS_9 = (5, 6, 8)


@dataclass(frozen=True)
class Divergence:
    code: str
    field: str
    portal_value: str | None
    hub_value: str | None
    rule: str
    repairable: bool = True


@dataclass
class ReconcileReport:
    checked: int = 0
    divergent: int = 0
    repaired: int = 0
    repair_failed: int = 0
    lookup_failed: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "divergent": self.divergent,
            "repaired": self.repaired,
            "repair_failed": self.repair_failed,
            "lookup_failed": self.lookup_failed,
            "by_rule": dict(sorted(self.by_rule.items())),
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def compare(work: Work, portal: dict[str, Any] | None) -> list[Divergence]:
    """Every field where the portal's copy differs from what the hub would send (pure)."""
    code = work.code
    if portal is None:
        return [Divergence(code, "MaHoSo", None, code, "missing-on-portal")]
    out = []
    hub_status, portal_status = work.item.get("TrangThaiHoSo"), portal.get("TrangThaiHoSo")
    if hub_status != portal_status:
        rule = "status-reported-as-9" if portal_status == 9 and hub_status in MISREPORTED_AS_9 else "status-differs"
        out.append(Divergence(code, "TrangThaiHoSo", _text(portal_status), _text(hub_status), rule))
    for name in ("NgayHenTra", "NgayKetThucXuLy", "NgayTra"):
        if work.item.get(name) != portal.get(name):
            out.append(Divergence(code, name, _text(portal.get(name)), _text(work.item.get(name)), "date-differs"))
    held = portal.get("QuaTrinhXuLy") or []
    present = acknowledged_on_portal(work.steps, held)
    if len(present) < len(work.steps):
        out.append(Divergence(code, "QuaTrinhXuLy", f"{len(held)} steps", f"{len(work.steps)} steps", "steps-missing"))
    ours = Counter(step_key(item) for _, item in work.steps)
    extra = sum((Counter(step_key(s) for s in held) - ours).values())
    if extra:
        out.append(Divergence(code, "QuaTrinhXuLy", f"{extra} extra", f"{len(work.steps)} steps", "steps-extra", False))
    return out


def _divergence_event(work: Work, d: Divergence) -> Event:
    return divergence_event(
        work.code,
        f"{work.code}:v{work.version}",
        d.field,
        d.portal_value,
        d.hub_value,
        d.rule,
        agency_code=work.agency_code,
        procedure_code=work.procedure_code,
    )


def _check(mirror: NationalMirror, work: Work, repair: str | None) -> tuple[list[Divergence], Event | None, str | None]:
    """Look one dossier up, compare, and repair (``repair`` tags this run's calls): (divergences,
    repair outcome event, error)."""
    try:
        portal = mirror.lookup(work.code)
    except PortalError as exc:
        return [], None, exc.reason
    found = compare(work, portal)
    if not repair or not any(d.repairable for d in found):
        return found, None, None
    o = work.outbox
    mirror.learn(work, portal)  # start from what the portal holds: only the missing steps are sent
    o.sent_digest = None  # re-send the record even though our memory says it was acknowledged
    outcome = mirror.sync(work, repair=repair)
    if outcome.event_type is EventType.NATIONAL_STATUS_SYNCED:
        try:  # the portal said yes; check it kept what it was sent (one province's portal copy did not)
            still = [d for d in compare(work, mirror.lookup(work.code)) if d.repairable]
        except PortalError as exc:
            return found, outcome, f"repaired, but the check after it failed: {exc.reason}"
        if still:
            return (
                found,
                outcome,
                "repaired, but the portal still holds "
                + "; ".join(f"{d.field}={d.portal_value} (sent {d.hub_value})" for d in still),
            )
    return found, outcome, None


def reconcile(
    mirror: NationalMirror,
    *,
    codes: Sequence[str] | None = None,
    repair: bool = True,
    page: int = 500,
    progress: Callable[[ReconcileReport], None] | None = None,
) -> ReconcileReport:
    """Check every settled dossier (or ``codes``), page by page; emit DivergenceDetected and repairs."""
    report = ReconcileReport()
    tag = _repair_tag(repair)
    after: str | None = ""
    while after is not None:
        after = _check_page(mirror, report, tag, codes, page, after)
        if after is not None and progress is not None:
            progress(report)
        if codes is not None:
            break
    return report


class RollingReconcile:
    """The running mirror's periodic check, one page per call, so mirroring goes on in between.

    Checking a province's settled dossiers in one go took ~90 s for 11,000 dossiers in the system
    run, and the mirror sent nothing meanwhile: every 120 s it stood still for most of the time.
    Called from the policy loop: a round starts ``period_s`` after the last one ended and checks one
    page per call; ``finished`` gets each complete round's report.
    """

    def __init__(
        self,
        mirror: NationalMirror,
        period_s: float,
        finished: Callable[[ReconcileReport], None],
        *,
        page: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mirror, self.period_s, self.finished, self.page, self.clock = mirror, period_s, finished, page, clock
        self.report: ReconcileReport | None = None  # the round in progress
        self._after, self._ended = "", clock()
        self._tag: str | None = None

    def __call__(self) -> None:
        if self.report is None:
            if self.period_s <= 0 or self.clock() - self._ended < self.period_s:
                return
            self.report, self._after, self._tag = ReconcileReport(), "", _repair_tag(True)
        after = _check_page(self.mirror, self.report, self._tag, None, self.page, self._after)
        if after is None:
            report, self.report, self._ended = self.report, None, self.clock()
            self.finished(report)
        else:
            self._after = after


def _repair_tag(repair: bool) -> str | None:
    # A repair is a new intent: fresh idempotency keys per run (a key reused from an earlier repair
    # would get that repair's stored answer back, and change nothing on the portal).
    return f"repair-{uuid.uuid4().hex[:12]}" if repair else None


def _check_page(
    mirror: NationalMirror,
    report: ReconcileReport,
    tag: str | None,
    codes: Sequence[str] | None,
    page: int,
    after: str,
) -> str | None:
    """Check the next page of settled dossiers after ``after`` into ``report``; the page's last code,
    or None when there was nothing left."""
    works = mirror.store.settled(codes, limit=page, after=after)
    if not works:
        return None
    results = mirror.map(lambda w: _check(mirror, w, tag), works)
    events: list[Event] = []
    repaired: list[Work] = []
    for work, (found, outcome, error) in zip(works, results, strict=True):
        report.checked += 1
        if error is not None and not found:
            report.lookup_failed += 1
            report.lines.append(f"{work.code}: lookup failed: {error}")
            continue
        if found:
            report.divergent += 1
            events.extend(_divergence_event(work, d) for d in found)
            for d in found:
                report.by_rule[d.rule] += 1
                report.lines.append(
                    f"{work.code}: {d.field} portal={d.portal_value} hub={d.hub_value} ({d.rule})"
                    + ("" if d.repairable else ", not repairable through the portal's API")
                )
        if outcome is not None:
            events.append(outcome)
            repaired.append(work)
            ok = outcome.event_type is EventType.NATIONAL_STATUS_SYNCED and error is None
            report.repaired += ok
            report.repair_failed += not ok
            if not ok:
                report.lines.append(f"{work.code}: repair failed: {error or outcome.payload.get('reason')}")
    mirror.commit(repaired, events)
    return works[-1].code
