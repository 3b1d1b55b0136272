"""One-line, human-readable renderings of events for terminals (times in Vietnam's local time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.domain.events import LOCAL_TZ, Event

__all__ = ["event_line"]


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dict) and "masked" in value:
        return str(value["masked"])  # a protected identity: the hash means nothing to a reader
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_value(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def event_line(event: Event) -> str:
    when = event.occurred_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    details = " ".join(f"{k}={_value(v)}" for k, v in event.payload.items() if v not in (None, [], ""))
    return f"{when}  {event.dossier_code:<28} {event.source_system.value:<7} {event.event_type.value:<22} {details}"
