"""Dossier events at chosen local times, for tests of what the hub does with time (SLA, monitors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.domain.events import LOCAL_TZ, Event, EventType, new_event

VN = LOCAL_TZ
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=VN)  # the business clock starts on a Monday at 14:00


def event(kind: EventType, code: str, at: datetime, payload: dict[str, Any], n: int) -> Event:
    return new_event(
        kind,
        dossier_code=code,
        source_system="ONESTOP",
        source_ref=f"{code}/{kind.value}/{n}",
        occurred_at=at,
        payload=payload,
        agency_code="000.00.12.H34",
        procedure_code="1.004227",
    )


def received(code: str, at: datetime, due: datetime) -> list[Event]:
    submitted = {"channel": "DIRECT", "online_level": "NOT_ONLINE", "applicant": {"kind": "CITIZEN"}}
    return [
        event(EventType.DOSSIER_SUBMITTED, code, at, submitted, 0),
        event(EventType.DOSSIER_ACCEPTED, code, at, {"due_at": due, "receipt_number": code}, 1),
    ]


def issued(code: str, at: datetime) -> Event:
    return event(EventType.RESULT_ISSUED, code, at, {"result_code": f"KQ-{code}"}, 9)


def supplement(code: str, round_: int, asked: datetime, given: datetime | None) -> list[Event]:
    out = [event(EventType.SUPPLEMENT_REQUESTED, code, asked, {"round": round_, "content": "bổ sung"}, 10 + round_)]
    if given:
        out.append(event(EventType.SUPPLEMENT_PROVIDED, code, given, {"round": round_}, 20 + round_))
    return out


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=VN)
