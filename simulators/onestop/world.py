"""The simulated one-stop's data: dossier lives as the change feed a real one-stop would publish,
in its own vocabulary (the Vietnamese field names the real systems use), deterministic from a seed.

Each change record (ThayDoi) has a sequence number (MaThayDoi) in commit order. The world also
knows its ground truth: which hub event each valid record must become, and which records are
malformed on purpose (they must end in the dead-letter topic, never as events).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.onestop.mapping import ENRICHMENT_KEY
from hub.domain.events import LOCAL_TZ
from simulators.agencies import AGENCIES

__all__ = ["CHANGE_KINDS", "Change", "World", "build_world"]

PROCEDURES = [f"1.{n:06d}" for n in range(4200, 4260)] + [f"2.{n:06d}" for n in range(1100, 1120)]

# The one-stop's change kinds, and the hub event each must become (the simulator's ground truth).
CHANGE_KINDS: dict[str, str] = {
    "NOP_HO_SO": "DossierSubmitted",
    "TIEP_NHAN": "DossierAccepted",
    "TU_CHOI": "DossierRefused",
    "LUAN_CHUYEN": "DossierTransferred",
    "XU_LY": "ProcessingStepRecorded",
    "YEU_CAU_BO_SUNG": "SupplementRequested",
    "NHAN_BO_SUNG": "SupplementProvided",
    "NGHIA_VU_TAI_CHINH": "FeeAssessed",
    "XIN_LOI": "DueDateExtended",
    "RUT_HO_SO": "DossierWithdrawn",
    "DUNG_XU_LY": "DossierStopped",
    "CO_KET_QUA": "ResultIssued",
    "SO_HOA": "ResultDigitised",
    "TRA_KET_QUA": "ResultReturned",
}


def fmt(moment: datetime) -> str:
    """The one-stop's time format: local yyyyMMddHHmmss."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y%m%d%H%M%S")


@dataclass
class Change:
    seq: int
    kind: str
    dossier: str
    at: datetime
    fields: dict[str, Any]
    malformed: str | None = None  # why this record is broken on purpose, for the ground truth

    def record(self) -> dict[str, Any]:
        """The ThayDoi as the SOAP service returns it (a malformed record carries its breakage)."""
        out = {"MaThayDoi": self.seq, "LoaiThayDoi": self.kind, "MaHoSo": self.dossier, "ThoiDiem": fmt(self.at)}
        for key, value in self.fields.items():
            out[key.lstrip("_")] = value
        return out


@dataclass
class DigitisedFile:
    code: str
    content: bytes
    media_type: str = "application/pdf"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class World:
    seed: int
    changes: list[Change] = field(default_factory=list)
    files: dict[str, DigitisedFile] = field(default_factory=dict)

    def expected(self) -> list[tuple[int, str]]:
        """(MaThayDoi, hub event type) for every valid record: exactly the events a connector must produce."""
        return [(c.seq, CHANGE_KINDS[c.kind]) for c in self.changes if c.malformed is None]

    def identity_numbers(self) -> set[str]:
        """Every citizen's identity number in the world: none may leave the hub unmasked."""
        return {
            str(c.fields["DinhDanhCHS"]["SoDinhDanh"])
            for c in self.changes
            if c.kind == "NOP_HO_SO" and c.fields.get("DinhDanhCHS", {}).get("LoaiDinhDanh") == "CCCD"
        }

    def malformed(self) -> dict[int, str]:
        return {c.seq: c.malformed for c in self.changes if c.malformed is not None}

    def as_read(self, change: Change) -> dict[str, Any]:
        """The record as the connector maps it: a SO_HOA change with the file metadata LayKetQuaSoHoa gives."""

        record = change.record()
        found = self.files.get(str(record.get("Ma")))
        if change.kind == "SO_HOA" and found is not None:
            record[ENRICHMENT_KEY] = {
                "Ma": found.code,
                "TepTin": {
                    "MaBam": found.sha256,
                    "KieuTep": found.media_type,
                    "KichThuoc": len(found.content),
                    "DuongDan": f"{found.code}.pdf",
                },
            }
        return record

    def dossier(self, code: str) -> list[Change]:
        return [c for c in self.changes if c.dossier == code]


class _Life:
    def __init__(self, rng: random.Random, number: int, at: datetime) -> None:
        self.rng = rng
        self.agency, self.agency_name = rng.choice(AGENCIES)
        self.procedure = rng.choice(PROCEDURES)
        self.code = f"{self.agency}-{at:%y%m%d}-{number % 10_000:04d}"
        self.at = at
        self.out: list[tuple[str, datetime, dict[str, Any]]] = []
        self.base = {"MaTTHC": self.procedure, "MaDonVi": self.agency}

    def add(self, kind: str, **fields: Any) -> None:
        self.out.append((kind, self.at, {**self.base, **fields}))

    def later(self, hours: float) -> datetime:
        self.at += timedelta(hours=hours, minutes=self.rng.randint(0, 59), seconds=self.rng.randint(0, 59))
        return self.at


def _appraisal_note(number: int, identity: str | None) -> str:
    """What an officer types at appraisal: every fifth citizen's identity number among it, written as
    people write it (the hub must mask it everywhere it goes). Drawn from ``number``, not the world's
    random stream, so the rest of the world stays as it was."""
    if identity is None or number % 5:
        return "Thẩm định hồ sơ"
    groups = [identity[i : i + 3] for i in range(0, len(identity), 3)]
    written = [identity, f"CCCD{identity}", " ".join(groups), "-".join(groups)][number // 5 % 4]
    return f"Thẩm định hồ sơ, đã đối chiếu CCCD {written} với bản gốc"


def _life(
    rng: random.Random, number: int, at: datetime, files: dict[str, DigitisedFile]
) -> list[tuple[str, datetime, dict[str, Any]]]:
    life = _Life(rng, number, at)
    roll = rng.random()
    channel = 1 if roll < 0.30 else 2 if roll < 0.99 else 3
    person = rng.random() < 0.85
    life.add(
        "NOP_HO_SO",
        KenhThucHien=channel,
        MucDo=("TOAN_TRINH" if rng.random() < 0.6 else "MOT_PHAN") if channel == 2 else None,
        ChuHoSo=rng.choice(["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thu Dung"])
        if person
        else "Công ty TNHH Minh Phát",
        LoaiDoiTuong=1 if person else 2,
        DinhDanhCHS={
            "LoaiDinhDanh": "CCCD" if person else "MST",
            "SoDinhDanh": f"0{rng.randint(10**10, 10**11 - 1)}" if person else f"{rng.randint(10**9, 10**10 - 1)}",
        },
    )
    kind = rng.random()
    if kind < 0.03:
        life.later(20)
        life.add("TU_CHOI", LyDo="Hồ sơ không thuộc thẩm quyền giải quyết", NguoiXuLy="Cán bộ một cửa")
        return life.out
    received = life.later(1)
    due = received + timedelta(days=rng.randint(3, 15))
    life.add(
        "TIEP_NHAN",
        SoBienNhan=f"BN{number:07d}",
        NgayHenTra=fmt(due),
        DonViXuLy=life.agency_name,
        NguoiXuLy="Cán bộ một cửa",
    )
    life.later(2)
    life.add("LUAN_CHUYEN", DonViChuyenDen=f"Phòng chuyên môn - {life.agency_name}", NguoiXuLy="Cán bộ một cửa")
    if kind < 0.05:
        life.later(30)
        life.add("RUT_HO_SO", LyDo="Công dân đề nghị rút hồ sơ")
        return life.out
    if kind < 0.06:
        life.later(30)
        life.add("DUNG_XU_LY", LyDo="Chờ kết luận thanh tra", NguoiXuLy="Lãnh đạo phòng")
        return life.out
    if 0.06 <= kind < 0.18:
        amount = rng.choice([50_000, 100_000, 150_000, 500_000, 1_000_000])
        life.add(
            "NGHIA_VU_TAI_CHINH",
            DanhSachLePhi=[
                {
                    "TenPhiLePhi": "Lệ phí cấp giấy phép",
                    "MaPhiLePhi": "LP01",
                    "HinhThucThu": 1,
                    "Gia": amount,
                    "LoaiPhiLePhi": 2,
                }
            ],
        )
    if 0.18 <= kind < 0.28:
        life.later(24)
        life.add(
            "YEU_CAU_BO_SUNG",
            LanBoSung=1,
            NoiDungBoSung="Bổ sung bản sao giấy tờ",
            NguoiYeuCauBoSung="Chuyên viên",
            NgayHenTraTruoc=fmt(due),
        )
        life.later(48)
        due = due + timedelta(days=3)
        life.add("NHAN_BO_SUNG", LanBoSung=1, NgayHenTraMoi=fmt(due))
        if rng.random() < 0.2:  # a second round: Decision 766 counts the dossier overdue
            life.later(24)
            life.add(
                "YEU_CAU_BO_SUNG",
                LanBoSung=2,
                NoiDungBoSung="Bổ sung bản vẽ",
                NguoiYeuCauBoSung="Chuyên viên",
                NgayHenTraTruoc=fmt(due),
            )
            life.later(30)
            due = due + timedelta(days=2)
            life.add("NHAN_BO_SUNG", LanBoSung=2, NgayHenTraMoi=fmt(due))
    life.later(20)
    life.add(
        "XU_LY",
        BuocXuLy="THAM_DINH",
        NoiDungXuLy=_appraisal_note(number, life.out[0][2]["DinhDanhCHS"]["SoDinhDanh"] if person else None),
        NguoiXuLy="Chuyên viên",
        ChucDanh="Chuyên viên",
        PhongBanXuLy="Phòng chuyên môn",
        TrangThai=4,
    )
    life.later(20)
    life.add(
        "XU_LY",
        BuocXuLy="PHE_DUYET",
        NoiDungXuLy="Trình ký phê duyệt",
        NguoiXuLy="Trưởng phòng",
        ChucDanh="Trưởng phòng",
        PhongBanXuLy="Phòng chuyên môn",
        TrangThai=4,
    )
    if 0.28 <= kind < 0.33:
        life.at = due - timedelta(hours=2)
        new_due = due + timedelta(days=rng.randint(2, 5))
        life.add(
            "XIN_LOI",
            NgayHenTraTruoc=fmt(due),
            NgayHenTraMoi=fmt(new_due),
            LyDo="Chờ ý kiến cơ quan phối hợp",
            SoPhieuXinLoi=f"XL{number:06d}",
        )
        due = new_due
    life.later(4)
    life.add(
        "XU_LY",
        BuocXuLy="DONG_DAU",
        NoiDungXuLy="Đóng dấu",
        NguoiXuLy="Văn thư",
        ChucDanh="Văn thư",
        PhongBanXuLy="Văn phòng",
        TrangThai=4,
    )
    life.later(1)
    result = f"KQ{number:07d}"
    life.add(
        "CO_KET_QUA",
        MaKetQua=result,
        SoKyHieu=f"{number}/GP-{life.agency[-6:-4]}",
        CoQuanBanHanh=life.agency_name,
        NguoiKy="Giám đốc Sở",
        NgayBanHanh=fmt(life.at),
        TrichYeuNoiDung="Giấy phép",
    )
    if rng.random() < 0.5:
        content = f"%PDF-1.4 ket qua {result} {rng.random()}".encode()
        files[result] = DigitisedFile(result, content)
        life.later(1)
        life.add(
            "SO_HOA",
            Ma=result,
            MaKetQua=result,
            SoKyHieu=f"{number}/GP-{life.agency[-6:-4]}",
            CoQuanBanHanh=life.agency_name,
            NguoiKy="Giám đốc Sở",
            NgayBanHanh=fmt(life.at),
            TrichYeuNoiDung="Giấy phép",
            LoaiSoHoa=1,
            NguoiSoHoa="Cán bộ số hóa",
            MaDinhDanh=life.out[0][2]["DinhDanhCHS"]["SoDinhDanh"],
        )
    life.later(rng.uniform(2, 48))
    life.add("TRA_KET_QUA", KenhTraKetQua=channel, NguoiXuLy="Cán bộ một cửa")
    return life.out


_BREAKAGES = [
    ("ThoiDiem", "20261345256161", "ThoiDiem is not a valid yyyyMMddHHmmss time"),
    ("MaHoSo", "", "MaHoSo is empty"),
    ("LoaiThayDoi", "HUY_BO_KHONG_RO", "LoaiThayDoi is not a known change kind"),
    ("TrangThai", -7, "TrangThai is outside 1-10"),
    ("NgayHenTra", "ngay mai", "NgayHenTra is not a valid yyyyMMddHHmmss time"),
]


_ALWAYS = {"ThoiDiem", "MaHoSo", "LoaiThayDoi"}
_APPLIES = {"TrangThai": "XU_LY", "NgayHenTra": "TIEP_NHAN"}  # fields only these kinds carry


def build_world(dossiers: int, seed: int = 2026, malformed_rate: float = 0.005) -> World:
    """``dossiers`` lives from 2026-03-02, ~350 new a day, as one change feed in commit order."""
    rng = random.Random(seed)
    world = World(seed)
    start = datetime(2026, 3, 2, 7, 30, tzinfo=LOCAL_TZ)
    raw: list[tuple[datetime, int, str, str, dict[str, Any]]] = []
    at = start
    for number in range(1, dossiers + 1):
        at += timedelta(seconds=rng.expovariate(350 / (9 * 3600)))
        if at.hour >= 17:
            at = (at + timedelta(days=1)).replace(hour=7, minute=30)
        events = _life(rng, number, at, world.files)
        code = f"{events[0][2]['MaDonVi']}-{at:%y%m%d}-{number % 10_000:04d}"
        for kind, moment, fields in events:
            raw.append((moment.replace(microsecond=0), len(raw), kind, code, fields))
    raw.sort()
    for seq, (moment, _, kind, code, fields) in enumerate(raw, start=1):
        change = Change(seq, kind, code, moment, fields)
        if rng.random() < malformed_rate:
            applicable = [b for b in _BREAKAGES if b[0] in _ALWAYS or _APPLIES.get(b[0]) == kind]
            key, value, why = rng.choice(applicable)
            if key == "ThoiDiem":
                change.fields["_ThoiDiem"] = value  # the service writes it in place of the real time
            elif key in ("MaHoSo", "LoaiThayDoi"):
                change.fields["_" + key] = value
            else:
                change.fields[key] = value
            change.malformed = why
        world.changes.append(change)
    return world
