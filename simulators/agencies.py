"""The agencies (sở, ngành) of the simulated province: receiving-unit codes and names, shared by every
generator of dossier lives so their figures can be compared by agency."""

from __future__ import annotations

__all__ = ["AGENCIES", "AGENCY_CODES"]

AGENCIES = [
    ("000.00.01.H56", "Sở Tư pháp"),
    ("000.00.02.H56", "Sở Kế hoạch và Đầu tư"),
    ("000.00.03.H56", "Sở Xây dựng"),
    ("000.00.04.H56", "Sở Tài nguyên và Môi trường"),
    ("000.00.05.H56", "Sở Giao thông vận tải"),
    ("000.00.06.H56", "Sở Y tế"),
    ("000.00.07.H56", "Sở Giáo dục và Đào tạo"),
    ("000.00.08.H56", "Sở Công Thương"),
    ("000.00.09.H56", "Sở Lao động - Thương binh và Xã hội"),
    ("000.00.10.H56", "Sở Nông nghiệp và PTNT"),
    ("000.00.11.H56", "Sở Tài chính"),
    ("000.00.12.H56", "Sở Nội vụ"),
    ("000.00.13.H56", "Sở Văn hóa, Thể thao và Du lịch"),
    ("000.00.14.H56", "Sở Thông tin và Truyền thông"),
    ("000.00.15.H56", "Sở Khoa học và Công nghệ"),
    ("000.00.16.H56", "Sở Ngoại vụ"),
    ("000.00.17.H56", "Ban Quản lý các KCN"),
    ("000.00.18.H56", "Công an tỉnh"),
    ("000.00.19.H56", "Cục Thuế tỉnh"),
    ("000.00.20.H56", "Bảo hiểm xã hội tỉnh"),
    ("000.00.21.H56", "Sở Du lịch"),
]
AGENCY_CODES = [code for code, _ in AGENCIES]
