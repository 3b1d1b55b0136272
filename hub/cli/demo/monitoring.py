"""The monitors in ``hub demo``: the faust app run in-process until the dossiers seen so far are
judged and one health sample is out, then what the monitoring topics hold, summarised."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa

from hub.bootstrap import make_engine
from hub.log.kafka_log import ensure_topics
from hub.log.kafka_source import KafkaRecordSource, follow
from hub.monitoring.records import TOPICS, default_codec
from hub.monitoring.sla_monitor import UNJUDGED
from hub.monitoring.worker import build_app, monitoring_topics
from hub.process.business_clock import BusinessClock
from hub.settings import Settings
from hub.store.sql_store import monitor_dossiers_table, monitor_outbox_table, monitor_state_table

__all__ = ["run_monitors"]


def _settled(engine: sa.Engine, dossiers: int) -> bool:
    """Every dossier folded and judged (none left for the post-replay scan), a health sample taken,
    nothing left in the outbox."""
    d, s = monitor_dossiers_table, monitor_state_table
    with engine.connect() as conn:
        judged = conn.execute(
            sa.select(sa.func.count()).where(sa.or_(d.c.next_check_at.is_(None), d.c.next_check_at > UNJUDGED))
        ).scalar_one()
        pending = conn.execute(sa.select(sa.func.count()).select_from(monitor_outbox_table)).scalar_one()
        sampled = conn.execute(sa.select(sa.func.count()).where(s.c.name == "health")).scalar_one()
    return judged >= dossiers and sampled > 0 and pending == 0


async def _run(settings: Settings, dossiers: int, timeout_s: float) -> None:
    engine = make_engine(settings)
    app = build_app(settings, engine, BusinessClock())
    await app.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not _settled(engine, dossiers) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    finally:
        await app.stop()
        engine.dispose()


def run_monitors(settings: Settings, dossiers: int, echo: Callable[[str], None], timeout_s: float = 60) -> None:
    settings = settings.model_copy(update={"monitor_health_interval_s": 1.0, "monitor_scan_interval_s": 1.0})
    ensure_topics(settings, monitoring_topics(settings))
    asyncio.run(_run(settings, dossiers, timeout_s))
    codec = default_codec()
    source = KafkaRecordSource(settings, [settings.monitor_topic_prefix + kind for kind in TOPICS])
    seen: Counter[str] = Counter()
    try:
        for record in follow(source, idle_exit_s=2.0):  # one empty poll is not the end: a fetch may be on its way
            _, value = codec.decode(record.value)
            kind = record.topic.removeprefix(settings.monitor_topic_prefix)
            if kind == "sla":
                seen[f"sla {value['condition']} {value['state']}"] += 1
            elif kind == "health":
                seen[f"health {value['signal']} {value['state']}"] += 1
            else:
                seen[kind] += 1
    finally:
        source.close()
    echo(f"\nmonitoring topics ({settings.monitor_topic_prefix}*, `hub monitor tail` prints them):")
    for name, count in sorted(seen.items()):
        echo(f"  {count:5d}  {name}")
