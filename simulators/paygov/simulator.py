"""A stand-in of PayGov (Nền tảng thanh toán trực tuyến) on loopback: INIT, QUERY, a settlement
statement for reconciliation, and signed IPN callbacks pushed to the hub.

Every initiated transaction gets a payer: most pay, some fail, some take their time. Each outcome
is pushed to ``callback_url`` as an IPN; with faults on, IPNs come twice, late, out of order (a
failed first try reported after the success), never (the hub must re-query), or forged. The
simulator keeps what it settled and what it sent, so tests compare it with the hub.

Assumptions (the public guides are incomplete): requests authenticate with ``X-Merchant-Code`` and
``X-Merchant-Key``; INIT is idempotent by MaThamChieu (same amount: the same answer; another amount:
MaLoi "09"); LoaiBanTin "1" is a payment result; MaLoi "00" success, "51" insufficient funds,
"24" cancelled by the payer; TrangThaiGD 1 success, 3 pending, 4 failed.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from connectors.common.record_fields import local_text
from connectors.paygov.signature import sign
from simulators.callback_server import CallbackSimulator
from simulators.faults import DeliveryFaults, FaultGate

__all__ = ["PayGovFaults", "PayGovSimulator", "Transaction"]

log = logging.getLogger(__name__)
SUCCESS, PENDING, FAILED = 1, 3, 4
FAILURE_CODES = {"51": "Tài khoản không đủ số dư", "24": "Người nộp hủy giao dịch"}


@dataclass
class PayGovFaults(DeliveryFaults):
    """Delivery faults plus the gateway's own (rates per transaction)."""

    ipn_lost_rate: float = 0.0  # no IPN at all: only a QUERY finds the outcome
    ipn_late_rate: float = 0.0  # the IPN comes ``ipn_late_s`` after the outcome
    ipn_late_s: float = 1.0
    stale_failure_rate: float = 0.0  # a failed first try, reported (after the success when out_of_order)
    forged_rate: float = 0.0  # a forged callback besides the genuine one
    slow_payer_rate: float = 0.0  # stays pending for ``slow_payer_s`` (and its IPN is lost)
    slow_payer_s: float = 2.0

    @classmethod
    def realistic(cls) -> PayGovFaults:
        return cls(
            latency_ms=3,
            timeout_rate=0.02,
            timeout_s=1.0,
            http500_rate=0.03,
            duplicate_rate=0.1,
            out_of_order=True,
            ipn_lost_rate=0.05,
            ipn_late_rate=0.1,
            ipn_late_s=0.5,
            stale_failure_rate=0.05,
            forged_rate=0.1,
            slow_payer_rate=0.03,
            slow_payer_s=1.0,
        )


@dataclass
class Transaction:
    ref: str
    amount: int
    dossier_code: str
    transaction_id: str
    bank: str
    status: int = PENDING
    error_code: str = ""
    settled_at: datetime | None = None
    slow: bool = False  # a payer who takes ``slow_payer_s``, and whose IPN is lost


@dataclass
class PayGovState:
    transactions: dict[str, Transaction] = field(default_factory=dict)
    inits: dict[str, int] = field(default_factory=dict)  # ref -> INIT calls that reached the work
    ipn_answers: list[tuple[str, str, int, str]] = field(default_factory=list)  # (kind, ref, HTTP, MaLoi)
    counts: dict[str, int] = field(default_factory=dict)


def _error(code: str, message: str, status: int = 200) -> dict[str, Any]:
    return {"MaLoi": code, "MoTa": message}


class PayGovSimulator(CallbackSimulator):
    """The gateway in a background thread; ``callback_url`` is where IPNs go (set it before INITs)."""

    def __init__(
        self,
        faults: PayGovFaults | None = None,
        *,
        merchant_code: str = "MOTCUA",
        secret: str = "paygov-test-secret",
        pay_delay_s: float = 0.05,
        success_rate: float = 0.9,
        callback_url: str | None = None,
        seed: int = 3,
        port: int = 0,
    ) -> None:
        self.faults = faults or PayGovFaults()
        self.merchant_code, self.secret = merchant_code, secret
        self.pay_delay_s, self.success_rate = pay_delay_s, success_rate
        self.callback_url = callback_url
        self.state = PayGovState()
        self.seed = seed
        self.gate = FaultGate(self.faults, self.state.counts, _error, seed)
        self._lock = threading.Lock()
        super().__init__("paygov-simulator", port)

    # -- the payer and the IPNs ------------------------------------------------------------------

    def _later(self, delay_s: float, kind: str, payload: dict[str, Any], attempt: int = 1) -> None:
        self.clock.later(delay_s, lambda: self._deliver(kind, payload, attempt))

    def _rng(self, ref: str) -> random.Random:
        """Each transaction's fate depends on its reference only, not on the order of INITs."""
        return random.Random(f"{self.seed}:{ref}")

    def _ipn(self, t: Transaction, code: str, status: int) -> dict[str, Any]:
        fields = {
            "LoaiBanTin": "1",
            "MaLoi": code,
            "MaThamChieu": t.ref,
            "SoTien": str(t.amount),
            "MaGiaoDich": t.transaction_id,
            "MaNganHang": t.bank,
            "ThoiGianGD": local_text(t.settled_at or datetime.now(UTC)),
        }
        return {**fields, "MaXacThuc": sign(fields, self.secret)}

    def _settle(self, ref: str) -> None:
        """The payer acted: the outcome is fixed at the gateway, then reported (or not)."""
        f, rng = self.faults, self._rng(ref + ":ipn")
        with self._lock:
            t = self.state.transactions[ref]
            if t.status != PENDING:
                return
            paid = self._rng(ref).random() < self.success_rate
            t.status, t.settled_at = (SUCCESS, datetime.now(UTC)) if paid else (FAILED, datetime.now(UTC))
            t.error_code = "00" if paid else rng.choice(sorted(FAILURE_CODES))
        if rng.random() < f.forged_rate:
            self._later(rng.uniform(0, 0.2), "forged", self._forge(t, rng))
        if t.slow or rng.random() < f.ipn_lost_rate:
            self.gate.count("ipn_lost")
            return
        delay = f.ipn_late_s if rng.random() < f.ipn_late_rate else rng.uniform(0, 0.05)
        genuine = self._ipn(t, t.error_code, t.status)
        self._later(delay, "genuine", genuine)
        if rng.random() < f.duplicate_rate:
            self._later(delay + rng.uniform(0, 0.3), "duplicate", genuine)
        if paid and rng.random() < f.stale_failure_rate:  # the payer's first card was declined
            stale = self._ipn(t, "51", FAILED)
            self._later(delay + 0.1 if f.out_of_order else max(delay - 0.02, 0), "stale", stale)

    def _forge(self, t: Transaction, rng: random.Random) -> dict[str, Any]:
        """A callback the hub must refuse: a guessed signature, a tampered amount, an unknown reference,
        or a correctly signed one whose amount is not what the hub asked for."""
        fields = {k: v for k, v in self._ipn(t, "00", SUCCESS).items() if k != "MaXacThuc"}
        kind = rng.choice(["guessed", "tampered", "unknown_ref", "wrong_amount"])
        if kind == "guessed":
            return {**fields, "MaXacThuc": uuid.UUID(int=rng.getrandbits(128)).hex * 2}
        if kind == "tampered":
            return {**fields, "SoTien": str(t.amount // 10), "MaXacThuc": sign(fields, self.secret)}
        if kind == "unknown_ref":
            fields["MaThamChieu"] = "MC" + uuid.UUID(int=rng.getrandbits(128)).hex[:18].upper()
            return {**fields, "MaXacThuc": sign(fields, "not-the-secret")}
        fields["SoTien"] = str(t.amount + 1_000)
        return {**fields, "MaXacThuc": sign(fields, self.secret)}

    def _deliver(self, kind: str, payload: dict[str, Any], attempt: int) -> None:
        if not self.callback_url:
            return
        try:
            reply = self._http.post(self.callback_url, json=payload)
            status, code = reply.status_code, str(reply.json().get("MaLoi"))
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            status, code = 0, type(exc).__name__
        with self._lock:
            self.state.ipn_answers.append((kind, str(payload.get("MaThamChieu")), status, code))
        if kind != "forged" and code != "00" and attempt < 6:  # the gateway retries what was not acknowledged
            self.gate.count("ipn_retries")
            self._later(0.2 * attempt, kind, payload, attempt + 1)

    # -- the API -----------------------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI(title="PayGov simulator")
        gate = self.gate

        def merchant(code: str | None, key: str | None) -> JSONResponse | None:
            if code != self.merchant_code or key != self.secret:
                return JSONResponse(_error("98", "sai thông tin đơn vị"), status_code=401)
            return None

        @app.post("/api/v1/khoitao")
        async def init(
            request: Request,
            x_merchant_code: str | None = Header(None),
            x_merchant_key: str | None = Header(None),
            idempotency_key: str | None = Header(None),
        ) -> Any:
            if denied := merchant(x_merchant_code, x_merchant_key) or await gate.faulty():
                return denied
            body = await request.json()
            ref, amount, code = body.get("MaThamChieu"), body.get("SoTien"), body.get("MaHoSo")
            if not isinstance(ref, str) or not ref or not isinstance(amount, int) or amount <= 0 or not code:
                return await gate.answer(_error("02", "MaThamChieu, SoTien (số nguyên VND > 0) và MaHoSo là bắt buộc"))
            with self._lock:
                self.state.inits[ref] = self.state.inits.get(ref, 0) + 1
                t = self.state.transactions.get(ref)
                if t is not None and t.amount != amount:
                    return await gate.answer(_error("09", "Mã tham chiếu đã tồn tại với số tiền khác"))
                fresh = t is None
                if t is None:
                    rng = self._rng(ref)
                    bank = rng.choice(["VCB", "BIDV", "CTG", "AGR"])
                    t = Transaction(ref, amount, str(code), f"GD{rng.getrandbits(40):013d}", bank)
                    t.slow = rng.random() < self.faults.slow_payer_rate
                    self.state.transactions[ref] = t
            if fresh:
                self.gate.count("transactions")
                delay = self.faults.slow_payer_s if t.slow else self._rng(ref).uniform(0, self.pay_delay_s)
                self.clock.later(delay, lambda: self._settle(ref))
            return await gate.answer(
                {
                    "MaLoi": "00",
                    "MoTa": "",
                    "MaThamChieu": ref,
                    "UrlThanhToan": f"{self.url}/pay/{ref}",
                    "DaTonTai": not fresh,
                }
            )

        @app.post("/api/v1/truyvan")
        async def query(
            request: Request, x_merchant_code: str | None = Header(None), x_merchant_key: str | None = Header(None)
        ) -> Any:
            if denied := merchant(x_merchant_code, x_merchant_key) or await gate.faulty():
                return denied
            ref = (await request.json()).get("MaThamChieu")
            self.gate.count("queries")
            t = self.state.transactions.get(str(ref))
            if t is None:
                return await gate.answer(_error("01", "Không tìm thấy giao dịch"))
            return await gate.answer({**self._record(t), "MaLoi": "00"})

        @app.get("/api/v1/doisoat")
        async def statement(
            trang: int = 1,
            so_ban_ghi: int = 500,
            x_merchant_code: str | None = Header(None),
            x_merchant_key: str | None = Header(None),
        ) -> Any:
            if denied := merchant(x_merchant_code, x_merchant_key) or await gate.faulty():
                return denied
            size = min(max(so_ban_ghi, 1), 1000)
            with self._lock:
                chosen = list(self.state.transactions.values())[(max(trang, 1) - 1) * size : max(trang, 1) * size]
                total = len(self.state.transactions)
            return await gate.answer({"MaLoi": "00", "DuLieu": [self._record(t) for t in chosen], "TongSo": total})

        return app

    def _record(self, t: Transaction) -> dict[str, Any]:
        return {
            "MaThamChieu": t.ref,
            "MaHoSo": t.dossier_code,
            "SoTien": t.amount,
            "TrangThaiGD": t.status,
            "MaGiaoDich": t.transaction_id,
            "MaNganHang": t.bank,
            "ThoiGianGD": local_text(t.settled_at),
            "MaLoiGD": t.error_code or None,
        }

    # -- discrepancies for reconciliation tests ----------------------------------------------------

    def change_amount(self, ref: str, amount: int) -> None:
        """The gateway settled another amount than the one reported (no callback)."""
        with self._lock:
            self.state.transactions[ref].amount = amount

    def reverse(self, ref: str) -> None:
        """A success later reversed at the gateway (refund, chargeback), silently."""
        with self._lock:
            t = self.state.transactions[ref]
            t.status, t.error_code = FAILED, "RV"

    def mark_paid(self, ref: str) -> None:
        """A payment the gateway settled late, after reporting it failed, with no new callback."""
        with self._lock:
            t = self.state.transactions[ref]
            t.status, t.error_code = SUCCESS, "00"

    def lose(self, ref: str) -> None:
        """The gateway has no record of a transaction the hub saw."""
        with self._lock:
            del self.state.transactions[ref]

    def orphan(self, ref: str, amount: int, dossier_code: str) -> None:
        """A settled transaction nobody at the hub initiated."""
        with self._lock:
            t = Transaction(ref, amount, dossier_code, f"GD{len(self.state.transactions):012d}", "VCB", SUCCESS, "00")
            t.settled_at = datetime.now(UTC)
            self.state.transactions[ref] = t
