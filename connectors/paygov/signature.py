"""PayGov's callback signature (MaXacThuc): SHA-256 over the pipe-joined fields and the shared secret.

Assumption, recorded here because the published integration guides vary between versions: the
fields are joined in the order of ``IPN_FIELDS`` with ``|``, the merchant's secret is appended as the
last element, and the digest is lower-case hex. Verification compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["IPN_FIELDS", "sign", "verify"]

IPN_FIELDS = ("LoaiBanTin", "MaLoi", "MaThamChieu", "SoTien", "MaGiaoDich", "MaNganHang", "ThoiGianGD")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def sign(fields: Mapping[str, Any], secret: str) -> str:
    joined = "|".join([*(_text(fields.get(name)) for name in IPN_FIELDS), secret])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def verify(fields: Mapping[str, Any], secret: str) -> bool:
    """True when MaXacThuc matches: never short-circuits on the first differing byte."""
    given = _text(fields.get("MaXacThuc")).strip().lower()
    return hmac.compare_digest(given.encode("utf-8"), sign(fields, secret).encode("utf-8"))
