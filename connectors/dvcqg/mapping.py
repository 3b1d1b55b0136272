"""National portal feed records to hub events. Pure; a record maps or is rejected with a reason.

Online submissions (Loai NOP_HO_SO) become DossierSubmitted from DVCQG; ratings (DANH_GIA) become
SatisfactionRated. The source reference is ``DVCQG:<Id>``, so re-reading a record gives the same id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.common.record_fields import LEVELS, dossier_code, local_time, optional_time, protected_identity, whole
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError

__all__ = ["RATINGS", "map_portal_record", "source_ref"]

RATINGS = {1: "VERY_SATISFIED", 2: "SATISFIED", 3: "NOT_SATISFIED"}


def source_ref(record_id: int | str) -> str:
    return f"DVCQG:{record_id}"


def _submitted(r: Mapping[str, Any], key: bytes) -> tuple[EventType, str, dict[str, Any]]:
    holder = r.get("DinhDanhCHS") or {}
    documents = [str(d.get("TenTaiLieu")) for d in r.get("TaiLieuNop") or [] if isinstance(d, Mapping)]
    payload = {
        "channel": "ONLINE",
        "online_level": LEVELS.get(str(r.get("MucDo")), "UNKNOWN"),
        "service_code": r.get("MaDichVuCong") or None,
        "applicant": {
            "kind": {1: "CITIZEN", 2: "ORGANISATION"}.get(r.get("LoaiDoiTuong"), "UNKNOWN"),  # type: ignore[arg-type]
            "name": r.get("ChuHoSo") or None,
            "identity": protected_identity(holder.get("SoDinhDanh"), holder.get("LoaiDinhDanh"), key),
        },
        "documents": documents,
        "due_at": optional_time(r, "NgayHenTra"),
    }
    return EventType.DOSSIER_SUBMITTED, "NgayNopHoSo", payload


def _rated(r: Mapping[str, Any], key: bytes) -> tuple[EventType, str, dict[str, Any]]:
    rating = RATINGS.get(whole(r, "MucDoHaiLong"))
    if rating is None:
        raise MappingError(f"MucDoHaiLong is not 1, 2 or 3: {r.get('MucDoHaiLong')!r}")
    return EventType.SATISFACTION_RATED, "ThoiGian", {"rating": rating, "comment": r.get("NoiDung") or None}


def map_portal_record(record: Mapping[str, Any], identity_key: bytes) -> Event:
    """The event a portal feed record becomes, or MappingError saying why it cannot."""
    try:
        record_id = whole(record, "Id", 1)
        build = {"NOP_HO_SO": _submitted, "DANH_GIA": _rated}.get(str(record.get("Loai")))
        if build is None:
            raise MappingError(f"Loai is not a known record kind: {record.get('Loai')!r}")
        code = dossier_code(record)
        kind, time_field, payload = build(record, identity_key)
        return new_event(
            kind,
            dossier_code=code,
            source_system=SourceSystem.DVCQG,
            source_ref=source_ref(record_id),
            occurred_at=local_time(record.get(time_field), time_field),
            payload=payload,
            agency_code=record.get("DonViXuLy") or None,
            procedure_code=record.get("MaTTHC") or None,
            correlation_id=code,
        )
    except MappingError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise MappingError(f"unexpected record shape: {type(exc).__name__}: {exc}") from exc
