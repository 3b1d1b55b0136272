"""Times read back from the read store, in UTC whatever the engine: SQLite returns the values of
timezone-aware columns naive, and the hub writes every time in UTC."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = ["aware", "aware_row"]

T = TypeVar("T")


def aware(value: T) -> T:
    """``value`` with UTC attached when it is a naive datetime; anything else unchanged."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def aware_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as a dict with every naive datetime in it made UTC."""
    return {key: aware(value) for key, value in row.items()}
