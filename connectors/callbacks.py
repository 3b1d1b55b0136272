"""The hub's callback endpoint: what PayGov (IPN) and VNPost (tracking) push to the hub.

One small ASGI app (``hub callbacks serve``): bodies larger than HUB_CALLBACK_MAX_BYTES are refused
before parsing, work that touches the database or the log runs off the event loop, and every
refusal is answered with a reason.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.vnpost.tracking import TrackingReceiver
from hub.ports import EventLog
from hub.settings import Settings

__all__ = ["build_callback_app", "make_callback_app"]

_NOT_JSON = object()


async def _raw(request: Request, max_bytes: int) -> bytes | None:
    """The body's bytes; None when larger than ``max_bytes`` (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        return None
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            return None
    return bytes(raw)


async def _body(request: Request, max_bytes: int) -> Any:
    """The parsed JSON body; None when too large, ``_NOT_JSON`` when it does not parse."""
    raw = await _raw(request, max_bytes)
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def make_callback_app(
    *, paygov: IpnReceiver | None = None, vnpost: TrackingReceiver | None = None, max_bytes: int = 16_384
) -> FastAPI:
    app = FastAPI(title="motcua-hub callbacks")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if paygov is not None:
        receiver = paygov

        @app.post("/callbacks/paygov/ipn")
        async def paygov_ipn(request: Request) -> JSONResponse:
            body = await _body(request, max_bytes)
            if body is None:
                return JSONResponse({"MaLoi": "02", "MoTa": f"body larger than {max_bytes} bytes"}, status_code=413)
            remote = request.client.host if request.client else None
            status, answer = await run_in_threadpool(receiver.receive, None if body is _NOT_JSON else body, remote)
            return JSONResponse(answer, status_code=status)

    if vnpost is not None:
        tracking = vnpost

        @app.post("/callbacks/vnpost/tracking")
        async def vnpost_tracking(request: Request) -> JSONResponse:
            raw = await _raw(request, max_bytes)  # the signature covers the exact bytes
            if raw is None:
                return JSONResponse(
                    {"Status": "413", "Message": f"body larger than {max_bytes} bytes"}, status_code=413
                )
            remote = request.client.host if request.client else None
            signature = request.headers.get("x-signature")
            status, answer = await run_in_threadpool(tracking.receive, raw, signature, remote)
            return JSONResponse(answer, status_code=status)

    return app


def build_callback_app(settings: Settings, events: EventLog) -> FastAPI:
    """The endpoint as ``hub callbacks serve`` runs it: both receivers on the read store and the log."""
    from hub.bootstrap import make_engine

    engine = make_engine(settings)
    return make_callback_app(
        paygov=IpnReceiver(PaymentBook(engine, events), settings.paygov_secret_value()),
        vnpost=TrackingReceiver(engine, events, settings.vnpost_secret_value()),
        max_bytes=settings.callback_max_bytes,
    )
