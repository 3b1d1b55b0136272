"""Refused callbacks, recorded as security events (hub_security_events) and logged: never as
payments or tracking. Details are written by the hub (no raw identity numbers: callbacks carry none).

A flood must not become a flood of rows, log lines and monitoring records competing with genuine
callbacks for the read store: per kind of refusal and sending address, the first few of an interval
are recorded one by one and the rest are counted and recorded as one row (``count``) when the
interval ends. Rows older than the retention are deleted as new ones come.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.store.sql_store import security_events_table

__all__ = ["INTERVAL_S", "ONE_BY_ONE", "flush_refusals", "record_refusal", "refusals"]

log = logging.getLogger(__name__)
T = security_events_table
INTERVAL_S = 60.0
ONE_BY_ONE = 5  # refusals of one kind from one address recorded row by row per interval; then counted
RETENTION = timedelta(days=90)
MAX_WINDOWS = 50_000  # addresses counted apart; past it, new ones share one count (remote "*")


@dataclass
class _Window:
    started: float
    recorded: int = 0
    held: int = 0
    last_detail: str = ""


_windows: dict[tuple[int, str, str, str | None], tuple[Engine, _Window]] = {}
_lock = threading.Lock()
_expired_at: dict[int, float] = {}  # engine -> when old rows were last deleted
_flusher: threading.Thread | None = None
_swept = float("-inf")  # when the windows were last searched for ended intervals


def record_refusal(
    engine: Engine,
    source: str,
    kind: str,
    detail: str,
    *,
    reference: str | None = None,
    dossier_code: str | None = None,
    remote: str | None = None,
) -> None:
    global _swept
    now = time.monotonic()
    key = (id(engine), source, kind, remote)
    with _lock:
        due = []
        if now - _swept >= 1.0:  # a flood must not make each refusal walk every window
            due, _swept = _take_due(now), now
        found = _windows.get(key)
        if found is None and len(_windows) >= MAX_WINDOWS:
            key = (id(engine), source, kind, "*")
            found = _windows.get(key)
        if found is None or now - found[1].started >= INTERVAL_S:
            window = _Window(now)
            _windows[key] = (engine, window)
        else:
            window = found[1]
        one_by_one = window.recorded < ONE_BY_ONE
        if one_by_one:
            window.recorded += 1
        else:
            window.held += 1
            window.last_detail = detail
            _start_flusher()
    _write_held(due)
    if one_by_one:
        _insert(engine, source, kind, detail, 1, reference=reference, dossier_code=dossier_code, remote=remote)
        log.warning(
            "%s callback refused (%s): %s",
            source,
            kind,
            detail[:200],
            extra={"security_event": kind, "reference": reference, "remote": remote},
        )


def flush_refusals() -> None:
    """Record every count held back so far, whether or not its interval has ended (tests, shutdown)."""
    with _lock:
        due = [(key, engine, w.last_detail, w.held) for key, (engine, w) in _windows.items() if w.held]
        for _, window in _windows.values():
            window.held = 0
    _write_held(due)


def _take_due(now: float) -> list[tuple[tuple[int, str, str, str | None], Engine, str, int]]:
    """Windows whose interval ended with refusals held back: removed, returned for writing."""
    due = []
    for key, (engine, window) in list(_windows.items()):
        if now - window.started >= INTERVAL_S:
            if window.held:
                due.append((key, engine, window.last_detail, window.held))
            del _windows[key]
    return due


def _write_held(due: list[tuple[tuple[int, str, str, str | None], Engine, str, int]]) -> None:
    for (_, source, kind, remote), engine, detail, count in due:
        summary = f"{count} more refused within {INTERVAL_S:.0f} s; the last: {detail}"
        _insert(engine, source, kind, summary, count, remote=remote)
        log.warning("%s callbacks refused (%s) x%d from %s: %s", source, kind, count, remote, detail[:200])


def _insert(
    engine: Engine,
    source: str,
    kind: str,
    detail: str,
    count: int,
    *,
    reference: str | None = None,
    dossier_code: str | None = None,
    remote: str | None = None,
) -> None:
    at = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(T).values(
                at=at,
                source=source,
                kind=kind,
                reference=(reference or "")[:64] or None,
                dossier_code=dossier_code,
                remote=remote,
                detail=detail[:500],
                count=count,
            )
        )
        last = _expired_at.get(id(engine), float("-inf"))
        if time.monotonic() - last >= 3600:  # old rows go as new ones come, at most hourly
            _expired_at[id(engine)] = time.monotonic()
            conn.execute(sa.delete(T).where(T.c.at < at - RETENTION))


def _start_flusher() -> None:
    """A daemon thread that writes held counts once their interval ends, even if no refusal follows."""
    global _flusher
    if _flusher is not None and _flusher.is_alive():
        return

    def run() -> None:
        while True:
            time.sleep(INTERVAL_S / 4)
            with _lock:
                due = _take_due(time.monotonic())
            _write_held(due)

    _flusher = threading.Thread(target=run, name="refusal-counts", daemon=True)
    _flusher.start()


def refusals(engine: Engine, source: str | None = None) -> dict[str, int]:
    """Refused callbacks by kind (counted ones included)."""
    query = sa.select(T.c.kind, sa.func.sum(T.c.count)).group_by(T.c.kind)
    if source:
        query = query.where(T.c.source == source)
    with engine.connect() as conn:
        return {kind: int(n) for kind, n in conn.execute(query)}
