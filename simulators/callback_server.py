"""What a simulator that pushes callbacks shares: its clock, an HTTP client for the pushes, and its
API served on loopback. Subclasses build their state first, then call ``__init__`` with ``_app``."""

from __future__ import annotations

from typing import Self

import httpx
from fastapi import FastAPI

from simulators.local.http import BackgroundServer, Served
from simulators.scheduler import Scheduler

__all__ = ["CallbackSimulator"]


class CallbackSimulator(Served):
    def __init__(self, name: str, port: int) -> None:
        self.clock = Scheduler(name)
        self._http = httpx.Client(timeout=5.0)
        self._server = BackgroundServer(self._app(), port=port)

    def _app(self) -> FastAPI:
        raise NotImplementedError

    def __enter__(self) -> Self:
        super().__enter__()
        self.clock.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clock.stop()
        super().__exit__(*exc)
        self._http.close()
