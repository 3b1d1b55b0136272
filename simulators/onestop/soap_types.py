"""The one-stop's SOAP contract (spyne models): what the simulator serves and the WSDL describes."""

from __future__ import annotations

from spyne import Array, Boolean, ByteArray, ComplexModel, Integer, Long, Unicode

__all__ = [
    "TNS",
    "DanhSachKetQuaSoHoa",
    "DinhDanh",
    "HoSo",
    "KetQuaSoHoa",
    "PhiLePhi",
    "TepTin",
    "ThayDoi",
    "TrangThayDoi",
]

TNS = "urn:motcua:mot-cua-dien-tu:v1"


class _Model(ComplexModel):  # type: ignore[misc]
    __namespace__ = TNS


class DinhDanh(_Model):
    LoaiDinhDanh = Unicode
    SoDinhDanh = Unicode


class PhiLePhi(_Model):
    TenPhiLePhi = Unicode
    MaPhiLePhi = Unicode
    HinhThucThu = Integer
    Gia = Long
    LoaiPhiLePhi = Integer


class ThayDoi(_Model):
    """One change in the dossier feed; LoaiThayDoi says which of the optional fields matter."""

    MaThayDoi = Long
    LoaiThayDoi = Unicode
    MaHoSo = Unicode
    ThoiDiem = Unicode
    MaTTHC = Unicode
    MaDonVi = Unicode
    KenhThucHien = Integer
    MucDo = Unicode
    ChuHoSo = Unicode
    LoaiDoiTuong = Integer
    DinhDanhCHS = DinhDanh
    SoBienNhan = Unicode
    NgayHenTra = Unicode
    DonViXuLy = Unicode
    DonViChuyenDen = Unicode
    NguoiXuLy = Unicode
    ChucDanh = Unicode
    PhongBanXuLy = Unicode
    BuocXuLy = Unicode
    NoiDungXuLy = Unicode
    TrangThai = Integer
    LanBoSung = Integer
    NoiDungBoSung = Unicode
    NguoiYeuCauBoSung = Unicode
    NgayHenTraTruoc = Unicode
    NgayHenTraMoi = Unicode
    DanhSachLePhi = Array(PhiLePhi)
    LyDo = Unicode
    SoPhieuXinLoi = Unicode
    MaKetQua = Unicode
    SoKyHieu = Unicode
    CoQuanBanHanh = Unicode
    NguoiKy = Unicode
    NgayBanHanh = Unicode
    TrichYeuNoiDung = Unicode
    Ma = Unicode
    LoaiSoHoa = Integer
    NguoiSoHoa = Unicode
    MaDinhDanh = Unicode
    KenhTraKetQua = Integer


class TrangThayDoi(_Model):
    """A page of the change feed: records after the cursor, the cursor to ask from next, more or not."""

    DanhSachThayDoi = Array(ThayDoi)
    MaThayDoiCuoi = Long
    ConDuLieu = Boolean


class HoSo(_Model):
    MaHoSo = Unicode
    MaTTHC = Unicode
    MaDonVi = Unicode
    QuaTrinhXuLy = Array(ThayDoi)


class TepTin(_Model):
    TenTep = Unicode
    KieuTep = Unicode
    KichThuoc = Long
    MaBam = Unicode  # SHA-256, hex
    DuongDan = Unicode  # where to fetch the bytes


class KetQuaSoHoa(_Model):
    Ma = Unicode
    MaKetQua = Unicode
    SoKyHieu = Unicode
    TepTin = TepTin
    NoiDung = ByteArray


class DanhSachKetQuaSoHoa(_Model):
    DanhSach = Array(KetQuaSoHoa)
    TongSo = Long
