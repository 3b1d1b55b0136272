"""The read API application: routes, API keys, errors, metrics, health; `hub api serve` runs it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from hub.api import dead_letters, dossiers, operations
from hub.api.auth import ApiKeys, requires
from hub.api.body_limit import BodyLimit
from hub.api.health_probe import CachedProbe
from hub.api.metrics import HubCollector
from hub.api.unavailable import unavailable
from hub.bootstrap import make_codec, make_engine, make_log_end
from hub.errors import HubError
from hub.process.business_clock import BusinessClock
from hub.process.rate_limit import RateLimiter
from hub.settings import Settings

__all__ = ["build_api"]

# The page loads nothing from elsewhere: inline script and style, API calls to this origin only.
# No other site may frame it (clickjacking of the operator's buttons).
_CSP = (
    "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'"
)


def build_api(settings: Settings, engine: sa.Engine | None = None) -> FastAPI:
    """The API over the read store in ``settings``; a ConfigError when no API key is configured."""
    keys = ApiKeys(settings.api_key_roles())
    docs = settings.api_docs or settings.demo
    app = FastAPI(
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        title="motcua-hub read API",
        version="1",
        description="Dossiers, timelines, connector and projection status, dead letters, results sync and the "
        "indicator reports of the one-stop integration hub. Every route but /healthz needs an X-API-Key: "
        "viewer keys read; operator keys also re-drive dead letters.",
    )
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_bytes, read_timeout_s=settings.http_body_timeout_s)
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings)
    app.state.codec = make_codec(settings)  # decodes what time travel reads back from the log
    app.state.keys = keys
    app.state.key_limiter = RateLimiter(settings.api_rate_per_s, settings.api_burst)
    app.state.clock = BusinessClock.of(settings)
    app.state.rebuilds = {}  # projection name -> the thread rebuilding it
    registry = CollectorRegistry()
    registry.register(HubCollector(app.state.engine, settings))

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> JSONResponse:
        answer = unavailable(exc)
        return JSONResponse({"detail": answer.detail}, status_code=answer.status_code)

    def database() -> str:
        try:
            with app.state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return f"error: {type(exc).__name__}"
        return "ok"

    def broker() -> str:
        try:
            make_log_end(settings)()
        except HubError:
            return "unreachable"
        return "ok"

    app.state.health = {
        "database": CachedProbe(database, settings.health_cache_s),
        "broker": CachedProbe(broker, settings.health_cache_s),
    }

    @app.get("/healthz", tags=["operations"], summary="Liveness and dependencies")
    def healthz() -> JSONResponse:
        """200 when the read store answers (the broker is reported, not required); no key needed, no data shown.
        The answer is the last probe's, at most HUB_HEALTH_CACHE_S old: callers cannot make the API probe."""
        checks = {name: probe.current() for name, probe in app.state.health.items()}
        healthy = checks["database"] == "ok"
        return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", dependencies=[Depends(requires("viewer"))])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    page = (Path(__file__).parent / "static" / "dashboard.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        """The dashboard page holds no data: it asks the API with the key from the URL (#key=) or the user."""
        return HTMLResponse(page, headers={"Cache-Control": "no-cache", "Content-Security-Policy": _CSP})

    app.include_router(dossiers.router)
    app.include_router(operations.router)
    app.include_router(dead_letters.router)
    return app
