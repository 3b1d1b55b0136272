"""What both gateways' callbacks pass before they can reach the log, beside their signatures: a JSON
content type (a browser can post text/plain across sites without asking), a message time within a
window (an old signed message replayed is refused), and a memory of recent signatures so that a
replayed or duplicated message is acknowledged without being appended to the log again."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

__all__ = ["FUTURE_SKEW", "CallbackGuard", "RecentMessages", "is_json", "stale_reason"]

FUTURE_SKEW = timedelta(minutes=10)  # clocks differ: a message this far ahead of ours is still taken


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` (with or without parameters such as charset)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def stale_reason(at: datetime, max_age_s: float, *, ahead_ok: bool = False, now: datetime | None = None) -> str | None:
    """Why a message dated ``at`` is refused (too old, or from the future unless ``ahead_ok``), or None
    when it is fresh."""
    now = now or datetime.now(UTC)
    if at < now - timedelta(seconds=max_age_s):
        return f"message time {at.isoformat()} is older than {max_age_s:g} s (a replay, or far too late)"
    if not ahead_ok and at > now + FUTURE_SKEW:
        return f"message time {at.isoformat()} is ahead of the hub's clock by more than {FUTURE_SKEW}"
    return None


class RecentMessages:
    """Signatures of messages already taken, kept ``ttl_s`` (the freshness window: anything older is
    refused as stale anyway) and at most ``limit`` of them. Thread-safe."""

    def __init__(self, ttl_s: float, limit: int = 100_000) -> None:
        self.ttl_s, self.limit = ttl_s, limit
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, signature: str) -> bool:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            return signature in self._seen

    def remember(self, signature: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._seen[signature] = now
            self._seen.move_to_end(signature)
            self._expire(now)

    def _expire(self, now: float) -> None:
        while self._seen and (len(self._seen) > self.limit or next(iter(self._seen.values())) < now - self.ttl_s):
            self._seen.popitem(last=False)


class CallbackGuard:
    """A receiver's freshness window and its memory of the messages it took within it."""

    def __init__(self, max_age_s: float = 172_800.0) -> None:
        self.max_age_s = max_age_s
        self.recent = RecentMessages(max_age_s)

    def stale(self, at: datetime, *, ahead_ok: bool = False) -> str | None:
        return stale_reason(at, self.max_age_s, ahead_ok=ahead_ok)
