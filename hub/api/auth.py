"""API keys with roles. A viewer reads; an operator also re-drives, reconciles and rebuilds.

Keys come from HUB_API_KEYS / HUB_API_KEYS_FILE, are kept only as SHA-256 digests and compared in
constant time against every configured key, so neither timing nor an early exit tells a caller how
close a guess was. An address that presents wrong keys too often is answered 429 for a while, whatever
key it sends, so keys cannot be guessed at the API's speed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from hub.process.rate_limit import RateLimiter

__all__ = ["ROLES", "ApiKeys", "requires", "spend"]

ROLES = ("viewer", "operator")  # each includes the ones before it
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (HUB_API_KEYS).")


MAX_FAILURES = 10  # wrong keys from one address within FAILURE_WINDOW_S before it is held off
FAILURE_WINDOW_S = 60.0


class ApiKeys:
    def __init__(self, roles: Mapping[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        self._entries = [(hashlib.sha256(key.encode()).digest(), role) for key, role in roles.items()]
        # Wrong keys spend an address's allowance of guesses, which comes back at MAX_FAILURES a window.
        self._guesses = RateLimiter(MAX_FAILURES / FAILURE_WINDOW_S, MAX_FAILURES, clock=clock)

    def held_off(self, address: str) -> bool:
        """True while ``address`` has no wrong key left to spend (MAX_FAILURES within FAILURE_WINDOW_S)."""
        return self._guesses.available(address) < 1

    def failed(self, address: str) -> None:
        self._guesses.allow(address)

    def role_of(self, presented: str | None) -> str | None:
        digest = hashlib.sha256((presented or "").encode()).digest()
        found = None
        for known, role in self._entries:  # no early exit
            if hmac.compare_digest(known, digest):
                found = role
        return found if presented else None


def requires(role: str) -> Callable[..., str]:
    """A dependency: 401 without a known key, 403 when the key's role is below ``role``."""

    def check(request: Request, key: str | None = Depends(_HEADER)) -> str:
        keys: ApiKeys = request.app.state.keys
        address = request.client.host if request.client else "unknown"
        if keys.held_off(address):
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many wrong API keys from this address: try again later",
                {"Retry-After": str(int(FAILURE_WINDOW_S / MAX_FAILURES))},
            )
        found = keys.role_of(key)
        if found is None:
            if key:  # a wrong key is a guess; a missing one is not
                keys.failed(address)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or unknown API key (X-API-Key)", {"WWW-Authenticate": "ApiKey"}
            )
        if ROLES.index(found) < ROLES.index(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role; the key is a {found}")
        request.state.caller = hashlib.sha256((key or "").encode()).hexdigest()
        spend(request, 1)
        return found

    return check


def spend(request: Request, cost: float) -> None:
    """Take ``cost`` from the calling key's budget (HUB_API_RATE_PER_S, HUB_API_BURST): 429 when it has
    too little. Every request costs 1; a route whose work grows with a parameter spends more."""
    limiter: RateLimiter = request.app.state.key_limiter
    if cost > 0 and not limiter.allow(request.state.caller, cost):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "this API key has used its request budget: slow down",
            {"Retry-After": str(max(1, int(cost / limiter.rate_per_s)))},
        )
