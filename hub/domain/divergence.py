"""Divergences between an external system and the hub, as events and report lines.

A DivergenceDetected event's id derives from what it is about (``subject``: a dossier version, a
payment reference, a postal item) and the values compared, so checking the same state again adds
nothing to the timeline, while a new disagreement is a new event. ``portal_value`` is the external
system's value (the field was named when the portal was the first system reconciled).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.domain.events import Event, EventType, SourceSystem, new_event

__all__ = ["Finding", "FindingReport", "divergence_event"]


def divergence_event(
    dossier_code: str,
    subject: str,
    field_name: str,
    system_value: str | None,
    hub_value: str | None,
    rule: str,
    *,
    source_system: SourceSystem = SourceSystem.HUB,
    agency_code: str | None = None,
    procedure_code: str | None = None,
    about: str | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """``about`` names what inside the dossier differs (a result, payment or postal item), if not the dossier."""
    fingerprint = hashlib.sha256(f"{field_name}\x1f{system_value}\x1f{hub_value}".encode()).hexdigest()[:16]
    return new_event(
        EventType.DIVERGENCE_DETECTED,
        dossier_code=dossier_code,
        source_system=source_system,
        source_ref=f"{subject}:divergence:{fingerprint}",
        occurred_at=occurred_at or datetime.now(UTC),
        payload={
            "field": field_name,
            "portal_value": system_value,
            "hub_value": hub_value,
            "rule": rule,
            "subject": about,
        },
        agency_code=agency_code,
        procedure_code=procedure_code,
    )


@dataclass(frozen=True)
class Finding:
    """One disagreement about ``subject`` (a payment reference, a postal item) of a dossier."""

    dossier_code: str
    subject: str
    field: str
    system_value: str | None
    hub_value: str | None
    rule: str

    def line(self) -> str:
        return (
            f"{self.rule:<24} {self.dossier_code} {self.subject} {self.field}: "
            f"system={self.system_value} hub={self.hub_value}"
        )


@dataclass
class FindingReport:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def by_rule(self) -> Counter[str]:
        return Counter(f.rule for f in self.findings)

    def summary(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "divergent": len(self.findings),
            "by_rule": dict(sorted(self.by_rule.items())),
        }

    def events(self, source_system: SourceSystem) -> list[Event]:
        return [
            divergence_event(
                f.dossier_code,
                f.subject,
                f.field,
                f.system_value,
                f.hub_value,
                f.rule,
                source_system=source_system,
                about=f.subject,
            )
            for f in self.findings
        ]
