"""What the simulated national portal holds, derived from a one-stop World so the two agree:
an online submission for every dossier submitted online, and a rating for about one returned
dossier in eight. One change feed, in time order, with its ground truth."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulators.onestop.world import World, fmt

__all__ = ["PORTAL_KINDS", "PortalRecord", "PortalWorld", "build_portal_world"]

PORTAL_KINDS = {"NOP_HO_SO": "DossierSubmitted", "DANH_GIA": "SatisfactionRated"}


@dataclass
class PortalRecord:
    id: int
    kind: str
    fields: dict[str, Any]
    malformed: str | None = None
    at: datetime | None = None  # when the portal recorded it (the feed is in this order)

    def record(self) -> dict[str, Any]:
        return {"Id": self.id, "Loai": self.kind, **{k.lstrip("_"): v for k, v in self.fields.items()}}


@dataclass
class PortalWorld:
    records: list[PortalRecord] = field(default_factory=list)

    def expected(self) -> list[tuple[int, str]]:
        return [(r.id, PORTAL_KINDS[r.kind]) for r in self.records if r.malformed is None]

    def malformed(self) -> dict[int, str]:
        return {r.id: r.malformed for r in self.records if r.malformed is not None}


def build_portal_world(onestop: World, seed: int = 7, malformed_rate: float = 0.005) -> PortalWorld:
    rng = random.Random(seed)
    raw: list[tuple[Any, str, dict[str, Any]]] = []
    for change in onestop.changes:
        f = change.fields
        if change.kind == "NOP_HO_SO" and f.get("KenhThucHien") == 2 and change.malformed is None:
            raw.append(
                (
                    change.at,
                    "NOP_HO_SO",
                    {
                        "MaHoSo": change.dossier,
                        "MaTTHC": f.get("MaTTHC"),
                        "MaDichVuCong": f"2.{rng.randint(1, 999):06d}",
                        "KenhThucHien": 2,
                        "MucDo": f.get("MucDo"),
                        "ChuHoSo": f.get("ChuHoSo"),
                        "LoaiDoiTuong": f.get("LoaiDoiTuong"),
                        "DinhDanhCHS": f.get("DinhDanhCHS"),
                        "NgayNopHoSo": fmt(change.at),
                        "DonViXuLy": f.get("MaDonVi"),
                        "TaiLieuNop": [{"TenTaiLieu": "Tờ khai"}, {"TenTaiLieu": "Bản sao giấy tờ"}],
                    },
                )
            )
        elif change.kind == "TRA_KET_QUA" and change.malformed is None and rng.random() < 0.125:
            at = change.at.replace(microsecond=0)
            raw.append(
                (
                    at,
                    "DANH_GIA",
                    {
                        "MaHoSo": change.dossier,
                        "MucDoHaiLong": rng.choice([1, 1, 2, 2, 2, 3]),
                        "NoiDung": rng.choice(["Cán bộ nhiệt tình", "Đúng hẹn", "Thủ tục còn rườm rà", None]),
                        "ThoiGian": fmt(at),
                        "MaTTHC": f.get("MaTTHC"),
                        "DonViXuLy": f.get("MaDonVi"),
                    },
                )
            )
    raw.sort(key=lambda item: item[0])
    world = PortalWorld()
    for n, (at, kind, fields) in enumerate(raw, start=1):
        record = PortalRecord(n, kind, fields, at=at)
        if rng.random() < malformed_rate:
            if kind == "NOP_HO_SO":
                record.fields["NgayNopHoSo"], record.malformed = "31/02/2026", "NgayNopHoSo is not a valid time"
            else:
                record.fields["MucDoHaiLong"], record.malformed = 9, "MucDoHaiLong is not 1, 2 or 3"
        world.records.append(record)
    return world
