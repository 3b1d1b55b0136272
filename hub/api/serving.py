"""Serving the hub's HTTP edges (read API, callback endpoint) with the same limits: connections at once,
idle keep-alive, header size. Slow headers are the reverse proxy's to cut (README, security section):
uvicorn has no deadline for them."""

from __future__ import annotations

from typing import Any

import uvicorn

from hub.settings import Settings

__all__ = ["serve"]

_MAX_HEADER_BYTES = 16_384  # the largest incomplete request head h11 buffers before refusing it


def serve(app: Any, host: str, port: int, settings: Settings) -> None:
    """Run ``app`` on ``host:port`` until stopped."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through the hub's handler: its format and its redaction
        limit_concurrency=settings.http_max_connections,
        timeout_keep_alive=int(max(settings.http_keep_alive_s, 1)),
        h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
        server_header=False,
    )
