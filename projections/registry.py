"""Every projection the hub runs, by name: the one place to see what reads the dossier events."""

from __future__ import annotations

from hub.ports import Projection
from projections.dossier_state import DossierStateProjection
from projections.payments import PaymentsProjection
from projections.postal import PostalProjection
from projections.results import ResultsProjection
from projections.timeline import TimelineProjection

__all__ = ["PROJECTIONS", "projection"]

PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        TimelineProjection(),
        DossierStateProjection(),
        PaymentsProjection(),
        PostalProjection(),
        ResultsProjection(),
    )
}


def projection(name: str) -> Projection:
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise KeyError(f"no projection named {name!r} (known: {', '.join(PROJECTIONS)})") from None
