"""What a simulator that pushes callbacks shares: its clock, an HTTP client for the pushes, and its
API served on loopback. Subclasses build their state first, then call ``__init__`` with ``_app``."""

from __future__ import annotations

from typing import Self

import httpx
from fastapi import FastAPI

from simulators.local.http import BackgroundServer
from simulators.scheduler import Scheduler

__all__ = ["CallbackSimulator"]


class CallbackSimulator:
    def __init__(self, name: str, port: int) -> None:
        self.clock = Scheduler(name)
        self._http = httpx.Client(timeout=5.0)
        self._server = BackgroundServer(self._app(), port=port)

    def _app(self) -> FastAPI:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> Self:
        self._server.start()
        self.clock.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clock.stop()
        self._server.stop()
        self._http.close()
