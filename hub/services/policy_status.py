"""Where each policy stands, read from the read store: what it tracks, where it is behind, what it
parked and which callbacks it refused (`hub policies status`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.common.security_log import refusals
from connectors.dvcqg.mirror.store import MirrorStore
from hub.errors import MissingProjectionError

__all__ = ["PolicyStatus", "policy_status"]


@dataclass(frozen=True)
class PolicyStatus:
    mirror_tracked: int
    mirror_behind: int
    mirror_failing: int
    payments_by_state: dict[str, int]
    payments_awaiting_outcome: int
    payments_parked: int
    paygov_refusals: Any
    results_by_state: dict[str, int]
    postal_items_by_state: dict[str, int]
    postal_orders_failing: int
    vnpost_refusals: Any


def policy_status(engine: Engine, *, max_attempts: int) -> PolicyStatus:
    """Counts over the projections' views and the policies' own tables; MissingProjectionError before
    `hub projections run` made the views."""

    def count(query: str, **params: Any) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(query), params).scalar_one())

    def by(query: str) -> dict[str, int]:
        with engine.connect() as conn:
            return {str(name): int(n) for name, n in conn.execute(sa.text(query)).all()}

    try:
        mirror = MirrorStore(engine).counts()
        return PolicyStatus(
            mirror_tracked=mirror["tracked"],
            mirror_behind=count("SELECT count(*) FROM v_dossier WHERE mirror_pending"),
            mirror_failing=mirror["failing"],
            payments_by_state=by("SELECT state, count(*) FROM v_payments GROUP BY state ORDER BY state"),
            payments_awaiting_outcome=count("SELECT count(*) FROM hub_paygov WHERE initiated AND outcome IS NULL"),
            payments_parked=count("SELECT count(*) FROM hub_paygov WHERE attempts >= :n", n=max_attempts),
            paygov_refusals=refusals(engine, "PAYGOV"),
            results_by_state=by("SELECT state, count(*) FROM v_results GROUP BY state ORDER BY state"),
            postal_items_by_state=by(
                "SELECT coalesce(flag, status, 'ORDERED'), count(*) FROM v_postal GROUP BY 1 ORDER BY 1"
            ),
            postal_orders_failing=count("SELECT count(*) FROM hub_vnpost WHERE item_code IS NULL AND attempts > 0"),
            vnpost_refusals=refusals(engine, "VNPOST"),
        )
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:  # a view or table missing
        raise MissingProjectionError(
            f"the read store has no read models yet: run `hub projections run` ({exc.orig})"
        ) from exc
