"""A stand-in of the national portal's integration API (REST/JSON) on loopback: token auth that
expires, a change feed of online submissions and ratings, dossier and step sync
(``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``, at most 10 steps a call) and lookup (``TraCuuHoSo``).
It keeps what it was told, so tests can compare the mirror with the hub. Success is error_code "0".
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

from connectors.dvcqg.world import PortalWorld
from connectors.simulated_faults import DeliveryFaults
from hub.local.http import BackgroundServer

__all__ = ["PortalFaults", "PortalSimulator"]

MAX_STEPS = 10


@dataclass
class PortalFaults(DeliveryFaults):
    """Delivery faults plus the portal's own."""

    revoke_rate: float = 0.0  # a valid token is reported expired (the portal restarted, rotated keys...)
    partial_batch_rate: float = 0.0  # some steps of a batch fail
    corrupt_statuses: bool = False  # statuses 5, 6, 8 are stored as 9, as one province was found doing

    @classmethod
    def realistic(cls) -> PortalFaults:
        return cls(
            latency_ms=3,
            timeout_rate=0.01,
            timeout_s=2.0,
            http500_rate=0.03,
            duplicate_rate=0.02,
            out_of_order=True,
            revoke_rate=0.02,
            partial_batch_rate=0.05,
        )


@dataclass
class PortalState:
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    counts: dict[str, int] = field(default_factory=dict)


def _answer(code: str, message: str = "", status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message, **extra}, status_code=status)


def make_portal_app(
    world: PortalWorld,
    faults: PortalFaults,
    state: PortalState,
    *,
    client_id: str,
    client_secret: str,
    token_ttl_s: float,
    seed: int = 1,
) -> FastAPI:
    app = FastAPI(title="DVCQG simulator")
    rng = random.Random(seed)
    lock = threading.Lock()

    def count(name: str) -> None:
        with lock:
            state.counts[name] = state.counts.get(name, 0) + 1

    async def faulty() -> JSONResponse | None:
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000 * rng.uniform(0.5, 1.5))
        roll = rng.random()
        if roll < faults.timeout_rate:
            count("timeout")
            await asyncio.sleep(faults.timeout_s)
        elif roll < faults.timeout_rate + faults.http500_rate:
            count("http500")
            return _answer("500", "Lỗi hệ thống", status=500)
        return None

    def authorised(authorization: str | None) -> JSONResponse | None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        expiry = state.tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            return _answer("401", "token không hợp lệ hoặc đã hết hạn", status=401)
        if rng.random() < faults.revoke_rate:
            count("revoked")
            state.tokens.pop(token, None)
            return _answer("401", "token đã hết hạn", status=401)
        return None

    @app.post("/oauth/token")
    async def token(request: Request) -> Any:
        body = await request.json()
        if body.get("client_id") != client_id or body.get("client_secret") != client_secret:
            return _answer("401", "sai thông tin ứng dụng", status=401)
        value = uuid.uuid4().hex
        state.tokens[value] = time.monotonic() + token_ttl_s
        count("tokens")
        return {"access_token": value, "token_type": "Bearer", "expires_in": token_ttl_s}

    @app.get("/api/thaydoi")
    async def changes(tu: int = 0, so_luong: int = 100, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await faulty()):
            return denied or failed
        size = min(max(so_luong, 1), 1000)
        chosen = world.records[max(tu, 0) : max(tu, 0) + size]
        data = [r.record() for r in chosen]
        data += [r for r in data if rng.random() < faults.duplicate_rate]
        if faults.out_of_order:
            rng.shuffle(data)
        last = chosen[-1].id if chosen else max(tu, 0)
        return {
            "error_code": "0",
            "message": "",
            "data": data,
            "tiep_theo": last,
            "con_du_lieu": last < len(world.records),
        }

    @app.post("/api/DongBoHoSoMC")
    async def sync_dossier(request: Request, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await faulty()):
            return denied or failed
        body = await request.json()
        items = body.get("data") or []
        if len(items) != 1 or not items[0].get("MaHoSo"):
            return _answer("3", "mỗi lần đồng bộ một hồ sơ có MaHoSo")
        item = dict(items[0])
        code = item["MaHoSo"]
        if faults.corrupt_statuses and item.get("TrangThaiHoSo") in (5, 6, 8):
            item["TrangThaiHoSo"] = 9
        with lock:
            exists = code in state.dossiers
            if exists and not body.get("isUpdate"):
                return _answer("2", "Hồ sơ đã tồn tại")
            if not exists and body.get("isUpdate"):
                return _answer("4", "Không tìm thấy hồ sơ")
            state.dossiers[code] = {**state.dossiers.get(code, {}), **item}
        count("updates" if exists else "inserts")
        return _answer("0")

    @app.post("/api/CapNhatTienDoHoSoMC")
    async def sync_steps(request: Request, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await faulty()):
            return denied or failed
        steps = (await request.json()).get("data") or []
        if len(steps) > MAX_STEPS:
            return _answer("3", f"tối đa {MAX_STEPS} bước mỗi lần")
        failed_at = [i for i in range(len(steps)) if rng.random() < faults.partial_batch_rate]
        with lock:
            for i, step in enumerate(steps):
                if i not in failed_at and step.get("MaHoSo") in state.dossiers:
                    state.steps.setdefault(step["MaHoSo"], []).append(step)
        unknown = [i for i, s in enumerate(steps) if s.get("MaHoSo") not in state.dossiers]
        failed_all = sorted(set(failed_at) | set(unknown))
        if failed_all:
            count("partial")
            return _answer("1", "một số bước không cập nhật được", failed=failed_all)
        return _answer("0")

    @app.get("/api/TraCuuHoSo")
    async def lookup(MaHoSo: str, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await faulty()):
            return denied or failed
        found = state.dossiers.get(MaHoSo)
        if found is None:
            return _answer("4", "Không tìm thấy hồ sơ")
        return {"error_code": "0", "message": "", "data": {**found, "QuaTrinhXuLy": state.steps.get(MaHoSo, [])}}

    return app


class PortalSimulator:
    """The portal simulator in a background thread; ``state`` shows what it holds, ``faults`` can change live."""

    def __init__(
        self,
        world: PortalWorld,
        faults: PortalFaults | None = None,
        *,
        client_id: str = "hub",
        client_secret: str = "hub-secret",
        token_ttl_s: float = 300.0,
        port: int = 0,
    ) -> None:
        self.world = world
        self.faults = faults or PortalFaults()
        self.state = PortalState()
        self.client_id, self.client_secret = client_id, client_secret
        app = make_portal_app(
            world, self.faults, self.state, client_id=client_id, client_secret=client_secret, token_ttl_s=token_ttl_s
        )
        self._server = BackgroundServer(app, port=port)

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> PortalSimulator:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
