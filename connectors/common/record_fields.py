"""Reading fields of government systems' records, shared by every connector's mapping.

They write local time as ``yyyyMMddHHmmss`` (Asia/Ho_Chi_Minh), identity numbers raw, numbers as
numbers or not: each helper either returns a clean value or raises MappingError naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.domain.dossier_code import parse_dossier_code
from hub.domain.events import LOCAL_TZ
from hub.domain.identity import mask, protect_identity, redact
from hub.errors import MappingError
from hub.store.utc import aware

__all__ = [
    "IDENTITY_FIELDS",
    "ID_TYPES",
    "LEVELS",
    "dossier_code",
    "local_text",
    "local_time",
    "optional_time",
    "protected_identity",
    "redact_identities",
    "text",
    "whole",
]

R = Mapping[str, Any]
LEVELS = {"TOAN_TRINH": "FULL", "MOT_PHAN": "PARTIAL"}
ID_TYPES = {"CCCD": "CCCD", "CMND": "CMND", "HC": "PASSPORT", "HO_CHIEU": "PASSPORT", "MST": "TAX_CODE"}
IDENTITY_FIELDS = frozenset({"SoDinhDanh", "MaDinhDanh"})


def redact_identities(value: Any) -> Any:
    """A copy with every identity number masked (``001*******67``), however deeply it sits: in the
    identity fields, and wherever free text carries one (what a record parked as a dead letter keeps)."""
    if isinstance(value, Mapping):
        return {
            # A system that keeps the number as a number ({"SoDinhDanh": 79203004512}) lost its leading zero.
            k: mask(str(v)) if k in IDENTITY_FIELDS and isinstance(v, str | int) else redact_identities(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_identities(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def local_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str) or len(value) != 14 or not value.isdigit():
        raise MappingError(f"{field} is not a yyyyMMddHHmmss time: {value!r}")
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=LOCAL_TZ).astimezone(UTC)
    except ValueError as exc:
        raise MappingError(f"{field} is not a valid time: {value!r}") from exc


def local_text(moment: datetime | None) -> str | None:
    """The inverse of ``local_time``: what the systems expect to be sent (a naive time is UTC)."""
    if moment is None:
        return None
    return aware(moment).astimezone(LOCAL_TZ).strftime("%Y%m%d%H%M%S")


def optional_time(r: R, field: str) -> datetime | None:
    return None if r.get(field) in (None, "") else local_time(r[field], field)


def text(r: R, field: str) -> str:
    value = r.get(field)
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{field} is missing")
    return value.strip()


def dossier_code(r: R, field: str = "MaHoSo") -> str:
    """The record's dossier code in its canonical form, or MappingError."""
    try:
        return parse_dossier_code(str(r.get(field) or "")).code
    except ValueError as exc:
        raise MappingError(f"{field} is not a dossier code: {r.get(field)!r}") from exc


def whole(r: R, field: str, low: int | None = None, high: int | None = None) -> int:
    value = r.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"{field} is not a whole number: {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise MappingError(f"{field} is outside {low}-{high}: {value}")
    return value


def protected_identity(number: Any, id_type: Any, key: bytes) -> dict[str, str] | None:
    if not isinstance(number, str) or not number.strip():
        return None
    return protect_identity(number, key, ID_TYPES.get(str(id_type or "").upper(), "OTHER")).as_record()
