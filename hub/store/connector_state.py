"""Each connector's durable state in the read store: cursor, breaker state, counters, last error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.domain.identity import redact
from hub.store.sql_store import connector_state_table, dumps, loads, upsert

__all__ = ["COUNTERS", "ConnectorState", "ConnectorStateStore"]

COUNTERS = (
    "records_read",
    "events_produced",
    "duplicates_skipped",
    "parked",
    "failures",
    "retries",
    "pages",
    "breaker_opens",  # so a monitor sampling now and then still sees a breaker that opened and closed between
)
S = connector_state_table


@dataclass
class ConnectorState:
    name: str
    cursor: str | None = None
    breaker_state: str = "closed"
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    last_error: str | None = None
    updated_at: datetime | None = None


class ConnectorStateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, name: str) -> ConnectorState:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(S).where(S.c.name == name)).one_or_none()
        if row is None:
            return ConnectorState(name)
        counters = dict.fromkeys(COUNTERS, 0) | loads(row.counters)
        return ConnectorState(name, row.cursor, row.breaker_state, counters, row.last_error, row.updated_at)

    def save(self, state: ConnectorState) -> None:
        state.updated_at = datetime.now(UTC)
        values = {
            "name": state.name,
            "cursor": state.cursor,
            "breaker_state": state.breaker_state,
            "counters": dumps(state.counters),
            "last_error": redact(state.last_error) if state.last_error else None,
            "updated_at": state.updated_at,
        }
        with self.engine.begin() as conn:
            upsert(conn, S, [values])

    def all(self) -> list[ConnectorState]:
        with self.engine.connect() as conn:
            names = [row.name for row in conn.execute(sa.select(S.c.name).order_by(S.c.name))]
        return [self.load(name) for name in names]
