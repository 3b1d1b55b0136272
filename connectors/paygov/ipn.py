"""PayGov's IPN (payment result callback) as the hub receives it.

Checks, in order, each refusal answered and recorded as a security event, never as a payment:
the body is JSON (``content_type``, 415); the fields are all there and well formed (``malformed``,
400); MaXacThuc verifies, compared in constant time (``bad_signature``, 401); ThoiGianGD is within
the freshness window (``stale``, 400); a message already taken is acknowledged again without
touching the book (a replay); the reference is one the hub asked to be paid
(``unknown_reference``, 404); SoTien is the amount asked for (``amount_mismatch``, 409). Then the
outcome is settled once per reference (see book.py) and acknowledged with MaLoi "00", duplicates
included, so the gateway stops re-sending; when the log or the database cannot take it, MaLoi "99"
(503) asks the gateway to send it again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from connectors.common.callback_guard import CallbackGuard, is_json
from connectors.common.record_fields import local_time
from connectors.common.security_log import record_refusal
from connectors.paygov.book import PaymentBook
from connectors.paygov.signature import IPN_FIELDS, verify
from hub.errors import MappingError, UpstreamError

__all__ = ["IpnReceiver"]

log = logging.getLogger(__name__)
SOURCE = "PAYGOV"


def _answer(status: int, code: str, message: str) -> tuple[int, dict[str, str]]:
    return status, {"MaLoi": code, "MoTa": message}


@dataclass
class IpnReceiver:
    book: PaymentBook
    key: str
    """The IPN verification key (MaXacThuc), not the merchant secret the hub calls PayGov with."""
    guard: CallbackGuard = field(default_factory=CallbackGuard)
    counters: Counter[str] = field(default_factory=Counter)

    def _refuse(
        self, kind: str, detail: str, status: int, code: str, fields: Mapping[str, Any], remote: str | None
    ) -> tuple[int, dict[str, str]]:
        self.counters[f"refused_{kind}"] += 1
        ref = fields.get("MaThamChieu")
        record_refusal(
            self.book.engine, SOURCE, kind, detail, reference=ref if isinstance(ref, str) else None, remote=remote
        )
        return _answer(status, code, detail)

    def throttled(self, remote: str | None) -> tuple[int, dict[str, str]]:
        """The answer to a caller over its rate: refused (and counted) before its body is read."""
        return self._refuse("rate_limited", "too many callbacks from this address", 429, "99", {}, remote)

    def receive(
        self, body: Any, remote: str | None = None, content_type: str | None = "application/json"
    ) -> tuple[int, dict[str, str]]:
        """(HTTP status, JSON answer) for one callback body."""
        self.counters["received"] += 1
        if not is_json(content_type):
            detail = f"the IPN must be application/json, not {str(content_type)[:60]!r}"
            return self._refuse("content_type", detail, 415, "02", {}, remote)
        if not isinstance(body, dict):
            return self._refuse("malformed", "the IPN body is not a JSON object", 400, "02", {}, remote)
        missing = [name for name in (*IPN_FIELDS, "MaXacThuc") if not isinstance(body.get(name), str | int)]
        if missing:
            return self._refuse("malformed", f"missing or not text: {', '.join(missing)}", 400, "02", body, remote)
        amount_text = str(body["SoTien"])
        try:
            if not amount_text.isdigit():
                raise MappingError(f"SoTien is not a whole number of đồng: {amount_text[:20]!r}")
            at = local_time(str(body["ThoiGianGD"]), "ThoiGianGD")
        except MappingError as exc:
            return self._refuse("malformed", str(exc), 400, "02", body, remote)
        if not verify(body, self.key):
            return self._refuse("bad_signature", "MaXacThuc does not verify", 401, "97", body, remote)
        stale = self.guard.stale(at)
        if stale:
            return self._refuse("stale", stale, 400, "02", body, remote)
        signature = str(body["MaXacThuc"]).strip().lower()
        if self.guard.recent.seen(signature):
            self.counters["replayed"] += 1
            return _answer(200, "00", "duplicate")
        ref = str(body["MaThamChieu"])
        expected = self.book.expected(ref)
        if expected is None:
            return self._refuse("unknown_reference", f"no payment was asked under {ref}", 404, "01", body, remote)
        if int(amount_text) != expected.amount_vnd:
            detail = f"SoTien {amount_text} differs from the {expected.amount_vnd} asked under {ref}"
            return self._refuse("amount_mismatch", detail, 409, "04", body, remote)
        code = str(body["MaLoi"])
        try:
            outcome = self.book.settle(
                expected,
                paid=code == "00",
                at=at,
                transaction_id=str(body["MaGiaoDich"]),
                bank_code=str(body["MaNganHang"]) or None,
                error_code=code,
                reason=None if code == "00" else f"PayGov MaLoi {code}",
            )
        except (UpstreamError, SQLAlchemyError) as exc:  # nothing recorded: the gateway must send it again
            self.counters["not_recorded"] += 1
            log.warning("IPN for %s not recorded, asked to resend: %s", ref, exc)
            return _answer(503, "99", "tạm thời không ghi nhận được, vui lòng gửi lại")
        self.guard.recent.remember(signature)
        self.counters[outcome] += 1
        return _answer(200, "00", outcome)
