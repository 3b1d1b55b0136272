"""Reading projection tables for the API: the active generation's typed table, JSON-ready rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.api.unavailable import unavailable
from hub.errors import HubError
from hub.store.utc import aware
from projections.registry import active_table

__all__ = ["json_row", "table"]


def table(conn: sa.Connection, name: str) -> sa.Table:
    """503 (not 500) while a projection has not run yet: the hub is starting, not broken."""
    try:
        return active_table(conn, name)
    except HubError as exc:
        raise unavailable(exc) from exc


def json_row(row: Any, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A row as a dict, times in UTC with an offset whatever the database returned."""
    return {key: aware(value) for key, value in row._mapping.items() if key not in skip}
