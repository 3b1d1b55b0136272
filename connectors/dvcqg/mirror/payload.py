"""What the hub tells the national portal about a dossier, built from the read models (pure).

``DongBoHoSoMC`` gets the dossier's header from its dossier_state row; ``CapNhatTienDoHoSoMC`` gets
one step per timeline row of a STEP_TYPES event (the whole handling history: acceptance, transfers,
processing steps, supplements, fees, apologies, result, return, side exits), in time order.

Assumption (recorded in the issue too): the hub never holds citizens' identity numbers in clear,
so ChuHoSo / DinhDanhCHS are not sent; the portal has them from the channel that created the
dossier (its own online form, or the one-stop's registration). The mirror sends status, dates,
units and steps, which is what provinces are measured on.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from connectors.common.record_fields import local_text
from hub.domain.dossier_fold import STEP_TYPES

__all__ = [
    "STEP_TYPE_NAMES",
    "acknowledged_on_portal",
    "digest",
    "dossier_item",
    "step_item",
    "step_key",
]

CHANNEL_CODES = {"DIRECT": 1, "ONLINE": 2, "POSTAL": 3}
APPLICANT_CODES = {"CITIZEN": 1, "ORGANISATION": 2}
STEP_TYPE_NAMES = sorted(t.value for t in STEP_TYPES)


def dossier_item(row: Mapping[str, Any]) -> dict[str, Any]:
    """The DongBoHoSoMC record of one dossier_state row (keys with no value are left out)."""
    item = {
        "MaHoSo": row["dossier_code"],
        "MaTTHC": row["procedure_code"],
        "MaDichVuCong": row.get("service_code"),
        "KenhThucHien": CHANNEL_CODES.get(row.get("channel") or ""),
        "LoaiDoiTuong": APPLICANT_CODES.get(row.get("applicant_kind") or ""),
        "NgayNopHoSo": local_text(row.get("submitted_at")),
        "NgayTiepNhan": local_text(row.get("received_at")),
        "NgayHenTra": local_text(row.get("due_at")),
        "TrangThaiHoSo": row["national_status"],
        "DonViXuLy": row.get("handling_unit") or row.get("agency_code"),
        "SoBienNhan": row.get("receipt_number"),
        "NgayKetThucXuLy": local_text(row.get("finished_at")),
        "NgayTra": local_text(row.get("returned_at")),
        "NgayTuChoi": local_text(row.get("refused_at")),
    }
    return {k: v for k, v in item.items() if v is not None}


def step_item(code: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The CapNhatTienDoHoSoMC step of one timeline row."""
    occurred: datetime = row["occurred_at"]
    item = {
        "MaHoSo": code,
        "NguoiXuLy": row.get("actor"),
        "ThoiDiemXuLy": local_text(occurred),
        "PhongBanXuLy": row.get("unit"),
        "NoiDungXuLy": row["summary_vi"],
        "TrangThai": row.get("national_status"),
    }
    return {k: v for k, v in item.items() if v is not None}


def step_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    """How a step is recognised in the portal's history (it keeps no id of ours)."""
    return (item.get("ThoiDiemXuLy"), item.get("NoiDungXuLy"), item.get("TrangThai"))


def digest(item: Mapping[str, Any]) -> str:
    """Stable fingerprint of a dossier record: unchanged header, no DongBoHoSoMC call."""
    return hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()


def acknowledged_on_portal(
    steps: Iterable[tuple[str, Mapping[str, Any]]], portal: Sequence[Mapping[str, Any]]
) -> set[str]:
    """Event ids of our ``steps`` the portal's history already holds, matched by content as a multiset
    (two identical steps of ours count as held only as often as the portal holds them)."""
    held = Counter(step_key(s) for s in portal)
    found = set()
    for event_id, item in steps:
        key = step_key(item)
        if held[key] > 0:
            held[key] -= 1
            found.add(event_id)
    return found
