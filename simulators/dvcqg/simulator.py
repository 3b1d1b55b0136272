"""A stand-in of the national portal's integration API (REST/JSON) on loopback: token auth that
expires, a change feed of online submissions and ratings, dossier and step sync
(``DongBoHoSoMC``, ``CapNhatTienDoHoSoMC``, at most 10 steps a call) and lookup (``TraCuuHoSo``).
It keeps what it was told, so tests can compare the mirror with the hub. Success is error_code "0".
The citizen's national data store lives here too (national_store.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from simulators.dvcqg.national_store import NationalStore, add_store_routes
from simulators.dvcqg.world import PortalWorld
from simulators.faults import DeliveryFaults, FaultGate
from simulators.local.http import BackgroundServer, Served

__all__ = ["PortalFaults", "PortalSimulator"]

MAX_STEPS = 10


@dataclass
class PortalFaults(DeliveryFaults):
    """Delivery faults plus the portal's own."""

    revoke_rate: float = 0.0  # a valid token is reported expired (the portal restarted, rotated keys...)
    partial_batch_rate: float = 0.0  # some steps of a batch fail
    corrupt_statuses: bool = False  # statuses 5, 6, 8 are stored as 9, as one province was found doing
    corrupt_upload_rate: float = 0.0  # national data store: the stored bytes of an upload differ from those sent

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


def _body(code: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"error_code": code, "message": message, **extra}


def _answer(code: str, message: str = "", status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse(_body(code, message, **extra), status_code=status)


def make_portal_app(
    world: PortalWorld,
    faults: PortalFaults,
    state: PortalState,
    *,
    client_id: str,
    client_secret: str,
    token_ttl_s: float,
    store: NationalStore,
    seed: int = 1,
    visible: Callable[[], int] | None = None,
) -> FastAPI:
    """``visible``: how many feed records exist yet (simulators.traffic); default all."""
    everything = len(world.records)
    visible = visible or (lambda: everything)
    app = FastAPI(title="DVCQG simulator")
    gate = FaultGate(faults, state.counts, lambda code, message, status: _body(code, message), seed)
    rng, count = gate.rng, gate.count

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

    async def admit(authorization: str | None, key: str | None) -> JSONResponse | None:
        """The gate of every call that changes the portal: token, then the fault gate."""
        return authorised(authorization) or await gate.admit(key)

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
        if (denied := authorised(authorization)) or (failed := await gate.faulty()):
            return denied or failed
        size = min(max(so_luong, 1), 1000)
        limit = visible()
        chosen = world.records[max(tu, 0) : min(max(tu, 0) + size, limit)]
        data = [r.record() for r in chosen]
        data += [r for r in data if rng.random() < faults.duplicate_rate]
        if faults.out_of_order:
            rng.shuffle(data)
        last = chosen[-1].id if chosen else max(tu, 0)
        return await gate.answer(_body("0", data=data, tiep_theo=last, con_du_lieu=last < limit))

    @app.post("/api/DongBoHoSoMC")
    async def sync_dossier(
        request: Request,
        authorization: str | None = Header(None),
        idempotency_key: str | None = Header(None),
    ) -> Any:
        body = await request.json()  # before admit: see FaultGate.admit
        if refused := await admit(authorization, idempotency_key):
            return refused
        items = body.get("data") or []
        if len(items) != 1 or not items[0].get("MaHoSo"):
            return await gate.answer(gate.remember(idempotency_key, _body("3", "mỗi lần đồng bộ một hồ sơ có MaHoSo")))
        item = dict(items[0])
        code = item["MaHoSo"]
        if faults.corrupt_statuses and item.get("TrangThaiHoSo") in (5, 6, 8):
            item["TrangThaiHoSo"] = 9
        with gate.lock:
            exists = code in state.dossiers
            if exists and not body.get("isUpdate"):
                reply = _body("2", "Hồ sơ đã tồn tại")
            elif not exists and body.get("isUpdate"):
                reply = _body("4", "Không tìm thấy hồ sơ")
            else:
                state.dossiers[code] = {**state.dossiers.get(code, {}), **item}
                reply = _body("0")
                done = "updates" if exists else "inserts"
                state.counts[done] = state.counts.get(done, 0) + 1
        return await gate.answer(gate.remember(idempotency_key, reply))

    @app.post("/api/CapNhatTienDoHoSoMC")
    async def sync_steps(
        request: Request,
        authorization: str | None = Header(None),
        idempotency_key: str | None = Header(None),
    ) -> Any:
        steps = (await request.json()).get("data") or []  # before admit: see FaultGate.admit
        if refused := await admit(authorization, idempotency_key):
            return refused
        if len(steps) > MAX_STEPS:
            return await gate.answer(gate.remember(idempotency_key, _body("3", f"tối đa {MAX_STEPS} bước mỗi lần")))
        failed_at = [i for i in range(len(steps)) if rng.random() < faults.partial_batch_rate]
        with gate.lock:
            for i, step in enumerate(steps):
                if i not in failed_at and step.get("MaHoSo") in state.dossiers:
                    state.steps.setdefault(step["MaHoSo"], []).append(step)
            unknown = [i for i, s in enumerate(steps) if s.get("MaHoSo") not in state.dossiers]
        failed_all = sorted(set(failed_at) | set(unknown))
        if failed_all:
            count("partial")
            reply = _body("1", "một số bước không cập nhật được", failed=failed_all)
        else:
            reply = _body("0")
        return await gate.answer(gate.remember(idempotency_key, reply))

    @app.get("/api/TraCuuHoSo")
    async def lookup(MaHoSo: str, authorization: str | None = Header(None)) -> Any:
        if (denied := authorised(authorization)) or (failed := await gate.faulty()):
            return denied or failed
        found = state.dossiers.get(MaHoSo)
        if found is None:
            return await gate.answer(_body("4", "Không tìm thấy hồ sơ"))
        return await gate.answer(_body("0", data={**found, "QuaTrinhXuLy": list(state.steps.get(MaHoSo, []))}))

    add_store_routes(app, store, gate, authorised)
    return app


class PortalSimulator(Served):
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
        visible: Callable[[], int] | None = None,
    ) -> None:
        self.world = world
        self.faults = faults or PortalFaults()
        self.state = PortalState()
        self.store = NationalStore(corrupt_upload_rate=self.faults.corrupt_upload_rate)
        self.client_id, self.client_secret = client_id, client_secret
        app = make_portal_app(
            world,
            self.faults,
            self.state,
            client_id=client_id,
            client_secret=client_secret,
            token_ttl_s=token_ttl_s,
            store=self.store,
            visible=visible,
        )
        self._server = BackgroundServer(app, port=port)

    def hub_settings(self) -> dict[str, Any]:
        """The hub's settings that point it at this simulator (for ``Settings.model_copy(update=...)``)."""
        return {
            "dvcqg_url": self.url,
            "dvcqg_client_id": self.client_id,
            "dvcqg_client_secret": SecretStr(self.client_secret),
        }
