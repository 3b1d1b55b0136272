"""One-stop change records (ThayDoi) to hub events. Pure: no I/O; a record either maps or is rejected
with a reason (MappingError), never anything else.

Times: the one-stop writes local ``yyyyMMddHHmmss``; events carry UTC. Each record becomes exactly
one event whose source reference is ``ThayDoi:<MaThayDoi>``, so re-reading it gives the same event id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.common.record_fields import (
    LEVELS,
    dossier_code,
    local_time,
    optional_time,
    protected_identity,
    text,
    whole,
)
from hub.domain.events import Event, EventType, SourceSystem, new_event
from hub.errors import MappingError

__all__ = ["ENRICHMENT_KEY", "KIND_TO_EVENT", "map_change", "source_ref"]

T = EventType
R = Mapping[str, Any]
ENRICHMENT_KEY = "_KetQuaSoHoa"  # the client adds a SO_HOA record's file metadata under this key

KIND_TO_EVENT: dict[str, EventType] = {
    "NOP_HO_SO": T.DOSSIER_SUBMITTED,
    "TIEP_NHAN": T.DOSSIER_ACCEPTED,
    "TU_CHOI": T.DOSSIER_REFUSED,
    "LUAN_CHUYEN": T.DOSSIER_TRANSFERRED,
    "XU_LY": T.PROCESSING_STEP_RECORDED,
    "YEU_CAU_BO_SUNG": T.SUPPLEMENT_REQUESTED,
    "NHAN_BO_SUNG": T.SUPPLEMENT_PROVIDED,
    "NGHIA_VU_TAI_CHINH": T.FEE_ASSESSED,
    "XIN_LOI": T.DUE_DATE_EXTENDED,
    "RUT_HO_SO": T.DOSSIER_WITHDRAWN,
    "DUNG_XU_LY": T.DOSSIER_STOPPED,
    "CO_KET_QUA": T.RESULT_ISSUED,
    "SO_HOA": T.RESULT_DIGITISED,
    "TRA_KET_QUA": T.RESULT_RETURNED,
}
CHANNELS = {1: "DIRECT", 2: "ONLINE", 3: "POSTAL"}
STEPS = {
    "TIEP_NHAN": "RECEIVE",
    "LUAN_CHUYEN": "TRANSFER",
    "THAM_DINH": "APPRAISE",
    "PHE_DUYET": "APPROVE",
    "DONG_DAU": "STAMP",
    "TRA_KET_QUA": "RETURN",
    "BO_SUNG": "SUPPLEMENT",
}
FEE_POINTS = {1: "AT_ACCEPTANCE", 2: "AT_SUPPLEMENT", 4: "AT_RESULT"}
FEE_KINDS = {1: "FEE", 2: "CHARGE"}


def source_ref(change_id: int | str) -> str:
    return f"ThayDoi:{change_id}"


def _submitted(r: R, key: bytes) -> dict[str, Any]:
    channel = CHANNELS.get(r.get("KenhThucHien"))  # type: ignore[arg-type]
    if channel is None:
        raise MappingError(f"KenhThucHien is not 1, 2 or 3: {r.get('KenhThucHien')!r}")
    holder = r.get("DinhDanhCHS") or {}
    kind = {1: "CITIZEN", 2: "ORGANISATION"}.get(r.get("LoaiDoiTuong"), "UNKNOWN")  # type: ignore[arg-type]
    return {
        "channel": channel,
        "online_level": LEVELS.get(str(r.get("MucDo")), "UNKNOWN") if channel == "ONLINE" else "NOT_ONLINE",
        "service_code": None,
        "applicant": {
            "kind": kind,
            "name": r.get("ChuHoSo") or None,
            "identity": protected_identity(holder.get("SoDinhDanh"), holder.get("LoaiDinhDanh"), key),
        },
        "documents": [],
        "due_at": None,
    }


def _accepted(r: R, key: bytes) -> dict[str, Any]:
    return {
        "receipt_number": r.get("SoBienNhan"),
        "due_at": optional_time(r, "NgayHenTra"),
        "received_by": r.get("NguoiXuLy"),
        "handling_unit": r.get("DonViXuLy"),
    }


def _refused(r: R, key: bytes) -> dict[str, Any]:
    return {"reason": r.get("LyDo") or "không nêu lý do", "refused_by": r.get("NguoiXuLy")}


def _transferred(r: R, key: bytes) -> dict[str, Any]:
    return {"from_unit": r.get("DonViXuLy"), "to_unit": text(r, "DonViChuyenDen"), "note": None}


def _step(r: R, key: bytes) -> dict[str, Any]:
    status = None if r.get("TrangThai") is None else whole(r, "TrangThai", 1, 10)
    return {
        "step": STEPS.get(str(r.get("BuocXuLy")), "OTHER"),
        "description": text(r, "NoiDungXuLy"),
        "handler": r.get("NguoiXuLy"),
        "handler_title": r.get("ChucDanh"),
        "department": r.get("PhongBanXuLy"),
        "national_status": status,
        "started_at": None,
        "step_due_at": None,
    }


def _supplement_requested(r: R, key: bytes) -> dict[str, Any]:
    return {
        "round": whole(r, "LanBoSung", 1, 99),
        "requested_by": r.get("NguoiYeuCauBoSung"),
        "content": text(r, "NoiDungBoSung"),
        "previous_due_at": optional_time(r, "NgayHenTraTruoc"),
    }


def _supplement_provided(r: R, key: bytes) -> dict[str, Any]:
    return {"round": whole(r, "LanBoSung", 1, 99), "new_due_at": optional_time(r, "NgayHenTraMoi")}


def _fees(r: R, key: bytes) -> dict[str, Any]:
    lines = r.get("DanhSachLePhi") or []
    if isinstance(lines, Mapping):  # zeep keeps the array wrapper: {"PhiLePhi": [...]}
        lines = lines.get("PhiLePhi") or []
    fees = []
    for i, line in enumerate(lines):
        amount = whole(line, "Gia", 0)
        fees.append(
            {
                "code": str(line.get("MaPhiLePhi") or f"PHI{i + 1}"),
                "name": str(line.get("TenPhiLePhi") or ""),
                "amount_vnd": amount,
                "kind": FEE_KINDS.get(line.get("LoaiPhiLePhi"), "UNKNOWN"),
                "collected": FEE_POINTS.get(line.get("HinhThucThu"), "UNKNOWN"),
            }
        )
    if not fees:
        raise MappingError("DanhSachLePhi is empty")
    return {"fees": fees, "total_vnd": sum(f["amount_vnd"] for f in fees)}


def _extended(r: R, key: bytes) -> dict[str, Any]:
    return {
        "previous_due_at": local_time(r.get("NgayHenTraTruoc"), "NgayHenTraTruoc"),
        "new_due_at": local_time(r.get("NgayHenTraMoi"), "NgayHenTraMoi"),
        "reason": r.get("LyDo") or "không nêu lý do",
        "apology_ref": r.get("SoPhieuXinLoi"),
    }


def _withdrawn(r: R, key: bytes) -> dict[str, Any]:
    return {"reason": r.get("LyDo")}


def _stopped(r: R, key: bytes) -> dict[str, Any]:
    return {"reason": r.get("LyDo") or "không nêu lý do", "stopped_by": r.get("NguoiXuLy")}


def _issued(r: R, key: bytes) -> dict[str, Any]:
    return {
        "result_code": text(r, "MaKetQua"),
        "document_number": r.get("SoKyHieu"),
        "issuing_agency": r.get("CoQuanBanHanh"),
        "signer": r.get("NguoiKy"),
        "issued_at": optional_time(r, "NgayBanHanh"),
        "summary": r.get("TrichYeuNoiDung"),
    }


def _digitised(r: R, key: bytes) -> dict[str, Any]:
    meta = r.get(ENRICHMENT_KEY)
    if not isinstance(meta, Mapping) or not isinstance(meta.get("TepTin"), Mapping):
        raise MappingError("the digitised result's file metadata (LayKetQuaSoHoa) is unavailable")
    file = meta["TepTin"]
    owner = protected_identity(r.get("MaDinhDanh"), "CCCD", key)
    if owner is None:
        raise MappingError("MaDinhDanh (the owner's identity number) is missing")
    digest = str(file.get("MaBam") or "")
    if len(digest) != 64:
        raise MappingError(f"MaBam is not a SHA-256: {digest!r}")
    kind = {0: "DOSSIER_COMPONENT", 1: "RESULT"}.get(r.get("LoaiSoHoa"), "UNKNOWN")  # type: ignore[arg-type]
    return {
        "result_code": text(r, "Ma"),
        "national_code": None,
        "owner": owner,
        "document_number": r.get("SoKyHieu"),
        "issued_at": optional_time(r, "NgayBanHanh"),
        "issuing_agency": r.get("CoQuanBanHanh"),
        "signer": r.get("NguoiKy"),
        "summary": r.get("TrichYeuNoiDung"),
        "valid_until": None,
        "scope": None,
        "kind": kind,
        "digitised_by": r.get("NguoiSoHoa"),
        "file": {
            "uri": text(file, "DuongDan"),
            "sha256": digest.lower(),
            "size_bytes": whole(file, "KichThuoc", 0),
            "media_type": str(file.get("KieuTep") or "application/octet-stream"),
        },
        "replaces_result_code": None,
        "reusable": True,
        "from_national_store": False,
    }


def _returned(r: R, key: bytes) -> dict[str, Any]:
    return {"channel": CHANNELS.get(r.get("KenhTraKetQua"), "UNKNOWN"), "returned_by": r.get("NguoiXuLy")}  # type: ignore[arg-type]


PAYLOADS: dict[EventType, Callable[[R, bytes], dict[str, Any]]] = {
    T.DOSSIER_SUBMITTED: _submitted,
    T.DOSSIER_ACCEPTED: _accepted,
    T.DOSSIER_REFUSED: _refused,
    T.DOSSIER_TRANSFERRED: _transferred,
    T.PROCESSING_STEP_RECORDED: _step,
    T.SUPPLEMENT_REQUESTED: _supplement_requested,
    T.SUPPLEMENT_PROVIDED: _supplement_provided,
    T.FEE_ASSESSED: _fees,
    T.DUE_DATE_EXTENDED: _extended,
    T.DOSSIER_WITHDRAWN: _withdrawn,
    T.DOSSIER_STOPPED: _stopped,
    T.RESULT_ISSUED: _issued,
    T.RESULT_DIGITISED: _digitised,
    T.RESULT_RETURNED: _returned,
}


def map_change(record: R, identity_key: bytes) -> Event:
    """The event a ThayDoi becomes, or MappingError saying why it cannot become one."""
    try:
        change_id = whole(record, "MaThayDoi", 1)
        kind = KIND_TO_EVENT.get(str(record.get("LoaiThayDoi")))
        if kind is None:
            raise MappingError(f"LoaiThayDoi is not a known change kind: {record.get('LoaiThayDoi')!r}")
        code = dossier_code(record)
        return new_event(
            kind,
            dossier_code=code,
            source_system=SourceSystem.ONESTOP,
            source_ref=source_ref(change_id),
            occurred_at=local_time(record.get("ThoiDiem"), "ThoiDiem"),
            payload=PAYLOADS[kind](record, identity_key),
            agency_code=record.get("MaDonVi") or None,
            procedure_code=record.get("MaTTHC") or None,
            correlation_id=code,
        )
    except MappingError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # a shape nobody foresaw: still a reason
        raise MappingError(f"unexpected record shape: {type(exc).__name__}: {exc}") from exc
