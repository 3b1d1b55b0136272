"""The hub's callback endpoint: what PayGov (IPN) and VNPost (tracking) push to the hub.

One small ASGI app (``hub callbacks serve``): bodies larger than HUB_CALLBACK_MAX_BYTES are refused
before parsing, work that touches the database or the log runs off the event loop, and every
refusal is answered with a reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.common.callback_guard import CallbackGuard
from connectors.common.security_log import flush_refusals
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.vnpost.tracking import TrackingReceiver
from hub.api.body_limit import BodyLimit
from hub.bootstrap import make_engine
from hub.ports import EventLog
from hub.process.rate_limit import RateLimiter
from hub.settings import Settings

__all__ = ["build_callback_app", "make_callback_app"]

_NOT_JSON = object()


async def _body(request: Request) -> Any:
    """The parsed JSON body, ``_NOT_JSON`` when it does not parse (its size is checked by BodyLimit)."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _too_large(path: str, max_bytes: int) -> dict[str, Any]:
    """The 413 body each gateway understands."""
    if "vnpost" in path:
        return {"Status": "413", "Message": f"body larger than {max_bytes} bytes"}
    return {"MaLoi": "02", "MoTa": f"body larger than {max_bytes} bytes"}


@asynccontextmanager
async def _counts_written(app: FastAPI) -> AsyncIterator[None]:
    """Refusals counted but not yet written are written when the endpoint stops."""
    yield
    await run_in_threadpool(flush_refusals)


def make_callback_app(
    *,
    paygov: IpnReceiver | None = None,
    vnpost: TrackingReceiver | None = None,
    max_bytes: int = 16_384,
    read_timeout_s: float = 10.0,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The callback endpoint over these receivers; ``limiter`` holds off an address over its rate (none:
    no limit, for tests of the receivers; ``build_callback_app`` always sets one from the settings)."""
    # Internet-facing: no /docs, /redoc or /openapi.json to map it for strangers.
    app = FastAPI(
        title="motcua-hub callbacks", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_counts_written
    )
    app.add_middleware(BodyLimit, max_bytes=max_bytes, reply=_too_large, read_timeout_s=read_timeout_s)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def held_off(
        request: Request, refuse: Callable[[str | None], tuple[int, dict[str, str]]]
    ) -> JSONResponse | None:
        """The 429 for an address over its rate (refused and counted before its body is read), or None."""
        remote = request.client.host if request.client else None
        if limiter is None or limiter.allow(remote or "unknown"):
            return None
        status, answer = await run_in_threadpool(refuse, remote)
        return JSONResponse(answer, status_code=status)

    if paygov is not None:
        receiver = paygov

        @app.post("/callbacks/paygov/ipn")
        async def paygov_ipn(request: Request) -> JSONResponse:
            if (held := await held_off(request, receiver.throttled)) is not None:
                return held
            remote = request.client.host if request.client else None
            body = await _body(request)
            parsed, kind = None if body is _NOT_JSON else body, request.headers.get("content-type")
            status, answer = await run_in_threadpool(receiver.receive, parsed, remote, kind)
            return JSONResponse(answer, status_code=status)

    if vnpost is not None:
        tracking = vnpost

        @app.post("/callbacks/vnpost/tracking")
        async def vnpost_tracking(request: Request) -> JSONResponse:
            if (held := await held_off(request, tracking.throttled)) is not None:
                return held
            remote = request.client.host if request.client else None
            raw = await request.body()  # the signature covers the exact bytes
            signature = request.headers.get("x-signature")
            kind = request.headers.get("content-type")
            status, answer = await run_in_threadpool(tracking.receive, raw, signature, remote, kind)
            return JSONResponse(answer, status_code=status)

    return app


def build_callback_app(settings: Settings, events: EventLog) -> FastAPI:
    """The endpoint as ``hub callbacks serve`` runs it: both receivers on the read store and the log."""

    engine = make_engine(settings)
    return make_callback_app(
        paygov=IpnReceiver(
            PaymentBook(engine, events), settings.paygov_ipn_key_value(), CallbackGuard(settings.callback_max_age_s)
        ),
        vnpost=TrackingReceiver(
            engine, events, settings.vnpost_callback_key_value(), CallbackGuard(settings.callback_max_age_s)
        ),
        max_bytes=settings.callback_max_bytes,
        read_timeout_s=settings.http_body_timeout_s,
        limiter=RateLimiter(settings.callback_rate_per_s, settings.callback_burst),
    )
