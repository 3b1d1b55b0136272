"""Shared helpers for tests against a real broker."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

from hub.domain.events import Event, EventType, new_event
from hub.ports import Record, RecordSource
from hub.settings import Settings


def read_exactly(source: RecordSource, count: int, timeout_s: float = 30.0) -> list[Record]:
    """Poll until ``count`` records arrived (Tansu's end offsets are wrong: count, don't ask the broker)."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        records.extend(source.poll(timeout_s=0.5))
    assert len(records) >= count, f"only {len(records)} of {count} records arrived within {timeout_s}s"
    return records


def lifecycle(dossiers: int, start: int = 0) -> list[Event]:
    """Submitted, accepted, withdrawn for each dossier: three events in causal order."""
    base = datetime(2026, 6, 9, 1, tzinfo=UTC)
    out: list[Event] = []
    for n in range(start, start + dossiers):
        code = f"000.00.20.H56-260609-{n:04d}"
        at = base + timedelta(minutes=n)

        def make(
            kind: EventType, ref: str, minutes: int, payload: dict[str, object], code: str = code, at: datetime = at
        ) -> Event:
            return new_event(
                kind,
                dossier_code=code,
                source_system="ONESTOP",
                source_ref=f"{code}/{ref}",
                occurred_at=at + timedelta(minutes=minutes),
                payload=payload,
            )

        out += [
            make(
                EventType.DOSSIER_SUBMITTED,
                "nop",
                0,
                {"channel": "DIRECT", "online_level": "NOT_ONLINE", "applicant": {"kind": "CITIZEN"}},
            ),
            make(EventType.DOSSIER_ACCEPTED, "tiepnhan", 5, {"due_at": at + timedelta(days=3)}),
            make(EventType.DOSSIER_WITHDRAWN, "rut", 60, {"reason": "citizen asked"}),
        ]
    return out


def hub_env(settings: Settings, **variables: str | SecretStr) -> dict[str, str]:
    """The environment a ``hub`` subprocess needs to reach this test's broker and topics, and ``variables``
    (``HUB_`` added, upper case; secrets revealed)."""
    return {
        **os.environ,
        "HUB_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "HUB_DOSSIER_TOPIC": settings.dossier_topic,
        "HUB_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        **{
            f"HUB_{name.upper()}": value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in variables.items()
        },
    }


HUB = str(Path(sys.executable).with_name("hub"))
T = TypeVar("T")


def kill_repeatedly(
    args: list[str],
    env: dict[str, str],
    *,
    times: int,
    between_s: tuple[float, float],
    seed: int,
    progress: Callable[[], T],
    after_progress: bool = False,
) -> list[T]:
    """Start ``hub ARGS`` and SIGKILL it after a random while, ``times`` times; ``progress()`` after each kill.

    ``after_progress``: the random while starts once ``progress()`` has moved since the start, so every
    kill lands in the middle of the work however fast this machine does it (up to a minute's wait)."""
    rng = random.Random(seed)
    seen: list[T] = []
    for _ in range(times):
        before = progress() if after_progress else None
        child = subprocess.Popen([HUB, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while after_progress and progress() == before and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(*between_s))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()
        seen.append(progress())
    return seen


def run_to_end(args: list[str], env: dict[str, str], timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``hub ARGS`` to completion (with an --idle-exit in ARGS) and return what it printed."""
    return subprocess.run([HUB, *args], env=env, capture_output=True, text=True, timeout=timeout_s, check=False)


def run_hub(
    settings: Settings, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**hub_env(settings, topic_partitions="3", identity_key="e2e-identity-key-0123456789"), **(env or {})}
    return subprocess.run([HUB, *args], capture_output=True, text=True, timeout=timeout, env=full_env, check=False)
