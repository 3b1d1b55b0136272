"""Faults every simulator can inject, and the gate every simulated endpoint passes through.

Faults change delivery, never data, so a simulated world's ground truth holds whatever is switched on.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

__all__ = ["DeliveryFaults", "FaultGate"]


@dataclass
class DeliveryFaults:
    """Rates are per request, or per record for duplicates; all can be changed while a simulator runs."""

    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 5.0  # how long a "timeout" request hangs before the simulator gives up on it
    http500_rate: float = 0.0
    duplicate_rate: float = 0.0
    out_of_order: bool = False


class FaultGate:
    """Latency, 500s and late answers before and after a simulated endpoint's work, and Idempotency-Key
    replay. ``error(code, message, status)`` builds the system's own error body."""

    def __init__(
        self,
        faults: DeliveryFaults,
        counts: dict[str, int],
        error: Callable[[str, str, int], dict[str, Any]],
        seed: int = 1,
    ) -> None:
        self.faults = faults
        self.counts = counts
        self.error = error
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self._late: set[asyncio.Task[Any] | None] = set()
        self._replies: dict[str, dict[str, Any] | None] = {}  # Idempotency-Key -> first answer (None: in progress)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def _respond(self, code: str, message: str, status: int) -> JSONResponse:
        return JSONResponse(self.error(code, message, status), status_code=status)

    async def faulty(self) -> JSONResponse | None:
        """Before the work: latency, or a 500 (nothing done). A timeout is a late answer: see ``answer``."""
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000 * self.rng.uniform(0.5, 1.5))
        roll = self.rng.random()
        if self.faults.timeout_rate <= roll < self.faults.timeout_rate + self.faults.http500_rate:
            self.count("http500")
            return self._respond("500", "Lỗi hệ thống", 500)
        if roll < self.faults.timeout_rate:
            self._late.add(asyncio.current_task())
        return None

    async def answer(self, response: Any) -> Any:
        """Send the answer, too late when this request drew a timeout: the work is done by then, as on
        a real system whose reply the caller stopped waiting for (the hard case for exactly-once)."""
        if asyncio.current_task() in self._late:
            self._late.discard(asyncio.current_task())
            self.count("timeout")
            await asyncio.sleep(self.faults.timeout_s)
        return response

    def once(self, key: str | None) -> JSONResponse | None:
        """A key seen before gets the first answer again (or 409 while that request still runs)."""
        if not key:
            return None
        with self.lock:
            if key not in self._replies:
                self._replies[key] = None
                return None
            stored = self._replies[key]
        self.count("replayed_keys")
        if stored is None:
            return self._respond("409", "yêu cầu cùng khóa đang được xử lý", 409)
        return JSONResponse(stored)

    def remember(self, key: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if key:
            with self.lock:
                self._replies[key] = body
        return body

    def forget(self, key: str | None) -> None:
        """A request that died before answering: its key may be used again."""
        if key:
            with self.lock:
                self._replies.pop(key, None)

    def forget_keys(self) -> None:
        """The system restarted and lost its idempotency memory: only its own uniqueness rules remain."""
        with self.lock:
            self._replies.clear()

    async def admit(self, key: str | None) -> JSONResponse | None:
        """The gate of every call that changes the system: a key seen before, then faults before work
        (a request that failed before doing anything may be retried under the same key).

        Read the request's body before calling this: admitting claims the key until the answer is
        remembered, and a caller that timed out while its body was still on the way made the body read
        raise after the claim, so every retry under that key got 409 for ever (a CI run of the
        national mirror test: two dossiers never mirrored, 37 attempts each)."""
        if seen := self.once(key):
            return seen
        if failed := await self.faulty():
            self.forget(key)
            return failed
        return None
