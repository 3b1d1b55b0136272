"""A stand-in of VNPost's BCCI order API on loopback: order creation (Status 100, or 101 when the
order exists), tracking by query, a list of orders for reconciliation, and tracking callbacks pushed
to the hub, signed with X-Signature (see codes.py for the codes assumed).

Each order moves through its script (accepted, picked up, in transit, out for delivery, then
delivered, or a failed delivery followed by a second try or a return to the sender) on the
simulator's clock. Tracking times are business times: the order's time plus a few hours per step,
so statuses are distinct however fast the test runs. With faults on, callbacks come twice, out of
order, never (the hub must poll), malformed or forged; order calls time out after doing the work.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from connectors.common.record_fields import local_text
from connectors.vnpost.codes import ORDER_TYPES, TRACKING, body_signature
from simulators.callback_server import CallbackSimulator
from simulators.faults import DeliveryFaults, FaultGate

__all__ = ["Order", "VnpostFaults", "VnpostSimulator"]

_TYPES = set(ORDER_TYPES.values())


@dataclass
class VnpostFaults(DeliveryFaults):
    callback_lost_rate: float = 0.0  # a status with no callback: only a query shows it
    malformed_rate: float = 0.0  # a broken copy of a callback besides the genuine one
    forged_rate: float = 0.0  # a callback with a wrong signature besides the genuine one
    delivery_failure_rate: float = 0.0  # first delivery attempt fails (then a second try or a return)

    @classmethod
    def realistic(cls) -> VnpostFaults:
        return cls(
            latency_ms=3,
            timeout_rate=0.03,
            timeout_s=1.0,
            http500_rate=0.03,
            duplicate_rate=0.1,
            out_of_order=True,
            callback_lost_rate=0.05,
            malformed_rate=0.02,
            forged_rate=0.02,
            delivery_failure_rate=0.15,
        )


@dataclass
class Order:
    item_code: str
    order_number: str
    order_type: str
    customer_code: str
    cod_amount: int
    receiver_province: str | None
    created_at: datetime
    script: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)  # statuses reached so far

    def record(self) -> dict[str, Any]:
        last = self.events[-1] if self.events else {}
        return {
            "ItemCode": self.item_code,
            "OrderNumber": self.order_number,
            "OrderType": self.order_type,
            "CustomerCode": self.customer_code,
            "CODAmount": self.cod_amount,
            "StatusCode": last.get("StatusCode"),
            "StatusTime": last.get("Time"),
        }


@dataclass
class VnpostState:
    orders: dict[str, Order] = field(default_factory=dict)  # ItemCode -> order
    by_number: dict[tuple[str, str], str] = field(default_factory=dict)  # (OrderNumber, OrderType) -> ItemCode
    creations: dict[tuple[str, str], int] = field(default_factory=dict)  # create calls that reached the work
    callbacks: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, ItemCode, HTTP status)
    counts: dict[str, int] = field(default_factory=dict)


def _error(code: str, message: str, status: int = 200) -> dict[str, Any]:
    return {"Status": code, "Message": message}


class VnpostSimulator(CallbackSimulator):
    def __init__(
        self,
        faults: VnpostFaults | None = None,
        *,
        customer_code: str = "MOTCUA",
        secret: str = "vnpost-test-secret",
        step_s: float = 0.05,
        callback_url: str | None = None,
        seed: int = 5,
        port: int = 0,
    ) -> None:
        self.faults = faults or VnpostFaults()
        self.customer_code, self.secret, self.step_s = customer_code, secret, step_s
        self.callback_url = callback_url
        self.seed = seed
        self.state = VnpostState()
        self.gate = FaultGate(self.faults, self.state.counts, _error, seed)
        self._lock = threading.Lock()
        self._pool = iter(range(10_000_000))  # ItemCode pool: EB + 9 digits + VN, handed out in order
        super().__init__("vnpost-simulator", port)

    # -- parcels moving ------------------------------------------------------------------------------

    def _script(self, rng: random.Random) -> list[str]:
        path = ["100", "200", "300", "400"]
        if rng.random() < self.faults.delivery_failure_rate:
            return [*path, "550", "400", "500"] if rng.random() < 0.6 else [*path, "550", "600"]
        return [*path, "500"]

    def _advance(self, item: str) -> None:
        """The next status of the order's script happens now (in business time: hours after the last)."""
        with self._lock:
            order = self.state.orders[item]
            if len(order.events) >= len(order.script):
                return
            step = len(order.events)
            code = order.script[step]
            at = order.created_at + timedelta(hours=3 * step, minutes=7 * step)
            event = {
                "ItemCode": item,
                "OrderNumber": order.order_number,
                "OrderType": order.order_type,
                "StatusCode": code,
                "StatusName": TRACKING[code][1],
                "Time": local_text(at),
                "Location": "Bưu cục trung tâm" if code != "500" else "Địa chỉ người nhận",
                "Note": None,
            }
            order.events.append(event)
            more = len(order.events) < len(order.script)
        self._push(event)
        if more:
            self.clock.later(self.step_s, lambda: self._advance(item))

    def _push(self, event: dict[str, Any]) -> None:
        rng, f = self.gate.rng, self.faults
        if rng.random() < f.forged_rate:
            self._send("forged", orjson.dumps({**event, "StatusCode": "500"}), "0" * 64)
        if rng.random() < f.malformed_rate:
            broken = orjson.dumps({**event, "Time": "ngày mai"})
            self._send("malformed", broken, body_signature(broken, self.secret))
        if rng.random() < f.callback_lost_rate:
            self.gate.count("callbacks_lost")
            return
        body = orjson.dumps(event)
        signature = body_signature(body, self.secret)
        jitter = rng.uniform(0, 3 * self.step_s) if f.out_of_order else 0.0
        self.clock.later(jitter, lambda: self._send("genuine", body, signature))
        if rng.random() < f.duplicate_rate:
            self.clock.later(jitter + rng.uniform(0, 0.2), lambda: self._send("duplicate", body, signature))

    def _send(self, kind: str, body: bytes, signature: str, attempt: int = 1) -> None:
        if not self.callback_url:
            return
        try:
            status = self._http.post(
                self.callback_url, content=body, headers={"Content-Type": "application/json", "X-Signature": signature}
            ).status_code
        except httpx.HTTPError:
            status = 0
        with self._lock:
            self.state.callbacks.append((kind, orjson.loads(body).get("ItemCode", "?"), status))
        if kind in ("genuine", "duplicate") and status != 200 and attempt < 6:
            self.gate.count("callback_retries")
            self.clock.later(0.2 * attempt, lambda: self._send(kind, body, signature, attempt + 1))

    # -- the API -------------------------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI(title="VNPost BCCI simulator")
        gate = self.gate

        def token(authorization: str | None) -> JSONResponse | None:
            if (authorization or "").removeprefix("Bearer ").strip() != self.secret:
                return JSONResponse(_error("401", "token không hợp lệ"), status_code=401)
            return None

        @app.post("/api/v1/orders")
        async def create(
            request: Request, authorization: str | None = Header(None), idempotency_key: str | None = Header(None)
        ) -> Any:
            body = await request.json()  # before admit: see FaultGate.admit
            if denied := token(authorization) or await gate.admit(idempotency_key):
                return denied
            number, kind = body.get("OrderNumber"), body.get("OrderType")
            cod = body.get("CODAmount", 0)
            if not isinstance(number, str) or not number or kind not in _TYPES or not isinstance(cod, int) or cod < 0:
                reply = _error("102", "OrderNumber, OrderType (NHAN_HO_SO|TRA_KET_QUA) và CODAmount >= 0 là bắt buộc")
                return await gate.answer(gate.remember(idempotency_key, reply))
            with self._lock:
                key = (number, kind)
                self.state.creations[key] = self.state.creations.get(key, 0) + 1
                existing = self.state.by_number.get(key)
                if existing is None:
                    item = f"EB{next(self._pool):09d}VN"
                    rng = random.Random(f"{self.seed}:{item}")
                    self.state.orders[item] = Order(
                        item,
                        number,
                        kind,
                        str(body.get("CustomerCode") or ""),
                        cod,
                        body.get("ReceiverProvince"),
                        datetime.now(UTC).replace(microsecond=0),
                        self._script(rng),
                    )
                    self.state.by_number[key] = item
            if existing is not None:
                reply = {"Status": "101", "Message": "Đơn hàng đã tồn tại", "ItemCode": existing, "OrderNumber": number}
            else:
                gate.count("orders")
                self.clock.later(self.step_s, lambda: self._advance(item))
                reply = {"Status": "100", "Message": "Thành công", "ItemCode": item, "OrderNumber": number}
            return await gate.answer(gate.remember(idempotency_key, reply))

        @app.get("/api/v1/orders/{item}/tracking")
        async def tracking(item: str, authorization: str | None = Header(None)) -> Any:
            if denied := token(authorization) or await gate.faulty():
                return denied
            gate.count("tracking_queries")
            order = self.state.orders.get(item)
            if order is None:
                return await gate.answer(_error("404", "Không tìm thấy bưu gửi"))
            with self._lock:
                events = list(order.events)
            return await gate.answer({"Status": "100", **order.record(), "Events": events})

        @app.get("/api/v1/orders")
        async def orders(page: int = 1, size: int = 500, authorization: str | None = Header(None)) -> Any:
            if denied := token(authorization) or await gate.faulty():
                return denied
            size = min(max(size, 1), 1000)
            with self._lock:
                chosen = list(self.state.orders.values())[(max(page, 1) - 1) * size : max(page, 1) * size]
                data, total = [o.record() for o in chosen], len(self.state.orders)
            return await gate.answer({"Status": "100", "Data": data, "Total": total})

        return app

    # -- discrepancies for reconciliation tests ------------------------------------------------------

    def change_cod(self, item: str, amount: int) -> None:
        with self._lock:
            self.state.orders[item].cod_amount = amount

    def silent_status(self, item: str, code: str) -> None:
        """A status recorded at VNPost with no callback (and nobody polling)."""
        with self._lock:
            order = self.state.orders[item]
            last = order.events[-1]
            at = datetime.strptime(last["Time"], "%Y%m%d%H%M%S") + timedelta(hours=5)
            order.events.append(
                {**last, "StatusCode": code, "StatusName": TRACKING[code][1], "Time": f"{at:%Y%m%d%H%M%S}"}
            )

    def lose(self, item: str) -> None:
        with self._lock:
            order = self.state.orders.pop(item)
            del self.state.by_number[(order.order_number, order.order_type)]

    def orphan(self, number: str, kind: str) -> str:
        with self._lock:
            item = f"EB{next(self._pool):09d}VN"
            order = Order(item, number, kind, self.customer_code, 0, None, datetime.now(UTC), ["100"])
            order.events.append({"ItemCode": item, "StatusCode": "100", "Time": local_text(order.created_at)})
            self.state.orders[item] = order
            self.state.by_number[(number, kind)] = item
        return item

    def settled(self) -> bool:
        """Every order at the end of its script and nothing left to push."""
        with self._lock:
            done = all(len(o.events) >= len(o.script) for o in self.state.orders.values())
        return done and self.clock.pending() == 0
