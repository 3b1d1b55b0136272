"""Every projection the hub runs, by name: the one place to see what reads the dossier events."""

from __future__ import annotations

import sqlalchemy as sa

from hub.errors import MissingProjectionError
from hub.ports import Projection
from hub.store.projection_store import info
from projections.dossier_state import DossierStateProjection
from projections.payments import PaymentsProjection
from projections.postal import PostalProjection
from projections.results import ResultsProjection
from projections.timeline import TimelineProjection

__all__ = ["PROJECTIONS", "active_table", "projection"]

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


def active_table(conn: sa.Connection, name: str) -> sa.Table:
    """The table readers use now (the active generation's first); MissingProjectionError before it ran. The one
    lookup of a read model's live table: every reader of the projections' tables goes through it."""
    found = info(conn, name)
    if found is None:
        raise MissingProjectionError(f"projection {name} has no tables yet: run `hub projections run` first")
    return projection(name).tables(found.active_generation)[0]
