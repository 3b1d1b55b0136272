"""API keys with roles. A viewer reads; an operator also re-drives, reconciles and rebuilds.

Keys come from HUB_API_KEYS / HUB_API_KEYS_FILE, are kept only as SHA-256 digests and compared in
constant time against every configured key, so neither timing nor an early exit tells a caller how
close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

__all__ = ["ROLES", "ApiKeys", "requires"]

ROLES = ("viewer", "operator")  # each includes the ones before it
_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (HUB_API_KEYS).")


class ApiKeys:
    def __init__(self, roles: Mapping[str, str]) -> None:
        self._entries = [(hashlib.sha256(key.encode()).digest(), role) for key, role in roles.items()]

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
        found = keys.role_of(key)
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing or unknown API key (X-API-Key)", {"WWW-Authenticate": "ApiKey"}
            )
        if ROLES.index(found) < ROLES.index(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role; the key is a {found}")
        return found

    return check
