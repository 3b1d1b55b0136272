"""VNPost BCCI codes as the hub reads them, and the callback signature.

Assumptions (the BCCI API guide is not public in full): order replies carry Status "100" accepted,
"101" already exists (with the existing ItemCode), "102" invalid; an order is unique per
(OrderNumber, OrderType) so one dossier can have a pickup and a delivery; tracking codes are the
ones in ``TRACKING``; callbacks are signed with ``X-Signature``, the hex HMAC-SHA256 of the raw body
under the shared secret.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["FINAL_CODES", "ORDER_TYPES", "TRACKING", "body_signature", "signature_ok"]

ORDER_TYPES = {"PICKUP": "NHAN_HO_SO", "DELIVERY": "TRA_KET_QUA"}  # hub direction -> OrderType
TRACKING = {
    "100": ("ACCEPTED", "Đã tiếp nhận đơn hàng"),
    "200": ("PICKED_UP", "Đã nhận bưu gửi"),
    "300": ("IN_TRANSIT", "Đang vận chuyển"),
    "400": ("OUT_FOR_DELIVERY", "Đang phát"),
    "500": ("DELIVERED", "Phát thành công"),
    "550": ("DELIVERY_FAILED", "Phát không thành công"),
    "600": ("RETURNED_TO_SENDER", "Chuyển hoàn"),
    "700": ("CANCELLED", "Hủy đơn hàng"),
}

FINAL_CODES = frozenset({"500", "600", "700"})  # delivered, returned to sender, cancelled


def body_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, given: str | None, secret: str) -> bool:
    """Constant-time comparison of the X-Signature header with the body's HMAC."""
    return hmac.compare_digest((given or "").strip().lower().encode(), body_signature(body, secret).encode())
