"""A handful of realistic dossier lives, as events, told by hand for the scripted tour (`hub demo --tour`).

Codes follow Circular 01/2018 (``UNIT-YYMMDD-NNNN``); times are Vietnam local office hours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.domain.events import LOCAL_TZ, Event, EventType, SourceSystem
from hub.domain.identity import protect_identity
from simulators.synthetic import DossierLife

__all__ = ["sample_dossiers"]

T = EventType


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=LOCAL_TZ)


def sample_dossiers(identity_key: bytes) -> list[Event]:
    """Three dossiers: direct and paid, online with a supplement and an apology, postal and refused."""
    lives: dict[str, DossierLife] = {}

    def add(
        code: str,
        kind: T,
        ref: str,
        at: datetime,
        payload: dict[str, Any],
        system: SourceSystem = SourceSystem.ONESTOP,
    ) -> None:
        life = lives.setdefault(code, DossierLife(code, "000.00.20.H56", "1.004227", at))
        life.add(kind, payload, system, ref=ref, at=at)

    owner = protect_identity("001203004567", identity_key).as_record()
    a = "000.00.20.H56-260609-0001"
    add(
        a,
        T.DOSSIER_SUBMITTED,
        "nop",
        _at(9, 8, 5),
        {
            "channel": "DIRECT",
            "online_level": "NOT_ONLINE",
            "service_code": None,
            "applicant": {"kind": "CITIZEN", "name": "Nguyễn Văn An", "identity": owner},
            "documents": ["Tờ khai đăng ký kinh doanh hộ gia đình", "Bản sao CCCD"],
            "due_at": None,
        },
    )
    add(
        a,
        T.DOSSIER_ACCEPTED,
        "tiepnhan",
        _at(9, 8, 20),
        {
            "receipt_number": "BN-0001",
            "due_at": _at(12, 17),
            "received_by": "Trần Thị Bình",
            "handling_unit": "Phòng Tài chính - Kế hoạch",
        },
    )
    add(
        a,
        T.FEE_ASSESSED,
        "phi",
        _at(9, 8, 25),
        {
            "fees": [
                {
                    "code": "LP01",
                    "name": "Lệ phí đăng ký hộ kinh doanh",
                    "amount_vnd": 100_000,
                    "kind": "CHARGE",
                    "collected": "AT_ACCEPTANCE",
                }
            ],
            "total_vnd": 100_000,
        },
    )
    add(
        a,
        T.PAYMENT_REQUESTED,
        "init",
        _at(9, 8, 26),
        {"payment_ref": "PG-260609-000001", "amount_vnd": 100_000, "payment_url": None, "expires_at": None},
        SourceSystem.PAYGOV,
    )
    add(
        a,
        T.PAYMENT_CONFIRMED,
        "ipn",
        _at(9, 8, 31),
        {"payment_ref": "PG-260609-000001", "amount_vnd": 100_000, "transaction_id": "GD778812", "bank_code": "VCB"},
        SourceSystem.PAYGOV,
    )
    add(
        a,
        T.DOSSIER_TRANSFERRED,
        "chuyen",
        _at(9, 9),
        {"from_unit": "Bộ phận Một cửa", "to_unit": "Phòng Tài chính - Kế hoạch", "note": None},
    )
    add(
        a,
        T.PROCESSING_STEP_RECORDED,
        "thamdinh",
        _at(10, 15),
        {
            "step": "APPRAISE",
            "description": "Thẩm định hồ sơ",
            "handler": "Lê Văn Cường",
            "handler_title": "Chuyên viên",
            "department": "Phòng Tài chính - Kế hoạch",
            "national_status": 4,
            "started_at": _at(9, 9),
            "step_due_at": _at(11, 17),
        },
    )
    add(
        a,
        T.RESULT_ISSUED,
        "ketqua",
        _at(11, 16),
        {
            "result_code": "KQ-0001",
            "document_number": "123/GCN-HKD",
            "issuing_agency": "UBND huyện",
            "signer": "Phạm Văn Dũng",
            "issued_at": _at(11, 16),
            "summary": "Giấy chứng nhận đăng ký hộ kinh doanh",
        },
    )
    add(a, T.RESULT_RETURNED, "tra", _at(12, 9), {"channel": "DIRECT", "returned_by": "Trần Thị Bình"})

    b = "000.00.20.H56-260609-0002"
    add(
        b,
        T.DOSSIER_SUBMITTED,
        "nop",
        _at(9, 21, 40),
        {
            "channel": "ONLINE",
            "online_level": "FULL",
            "service_code": "2.000305",
            "applicant": {"kind": "CITIZEN", "name": None, "identity": owner},
            "documents": [],
            "due_at": None,
        },
        SourceSystem.DVCQG,
    )
    add(
        b,
        T.DOSSIER_ACCEPTED,
        "tiepnhan",
        _at(10, 8),
        {"receipt_number": "BN-0002", "due_at": _at(15, 17), "received_by": None, "handling_unit": None},
    )
    add(
        b,
        T.SUPPLEMENT_REQUESTED,
        "bs1",
        _at(11, 10),
        {
            "round": 1,
            "requested_by": "Lê Văn Cường",
            "content": "Bổ sung bản vẽ hiện trạng",
            "previous_due_at": _at(15, 17),
        },
    )
    add(b, T.SUPPLEMENT_PROVIDED, "bs1-nhan", _at(12, 14), {"round": 1, "new_due_at": _at(17, 17)})
    add(
        b,
        T.DUE_DATE_EXTENDED,
        "xinloi",
        _at(17, 16),
        {
            "previous_due_at": _at(17, 17),
            "new_due_at": _at(19, 17),
            "reason": "Chờ ý kiến phối hợp",
            "apology_ref": "XL-12/2026",
        },
    )
    add(
        b,
        T.NATIONAL_STATUS_SYNCED,
        "sync-4",
        _at(17, 16, 5),
        {"national_status": 4, "sync_version": 5, "operation": "UPDATE", "steps_synced": 3},
        SourceSystem.HUB,
    )
    add(
        b,
        T.DIVERGENCE_DETECTED,
        "tracuu",
        _at(18, 7),
        {"field": "TrangThaiHoSo", "portal_value": "9", "hub_value": "4", "rule": "status-reported-as-9"},
        SourceSystem.HUB,
    )

    c = "000.00.20.H56-260610-0003"
    add(
        c,
        T.DOSSIER_SUBMITTED,
        "nop",
        _at(10, 10),
        {
            "channel": "POSTAL",
            "online_level": "NOT_ONLINE",
            "service_code": None,
            "applicant": {"kind": "ORGANISATION", "name": "Công ty TNHH Minh Phát", "identity": None},
            "documents": ["Đơn đề nghị"],
            "due_at": None,
        },
    )
    add(
        c,
        T.POSTAL_ORDER_CREATED,
        "vnpost",
        _at(10, 10, 30),
        {
            "item_code": "EB123456789VN",
            "order_number": c,
            "direction": "PICKUP",
            "customer_code": "HCC-H56",
            "cod_amount_vnd": 0,
            "receiver_province": "Đà Nẵng",
        },
        SourceSystem.VNPOST,
    )
    add(
        c,
        T.DOSSIER_REFUSED,
        "tuchoi",
        _at(11, 9),
        {"reason": "Thủ tục không thuộc thẩm quyền giải quyết", "refused_by": "Trần Thị Bình"},
    )
    return [event for life in lives.values() for event in life.events]
