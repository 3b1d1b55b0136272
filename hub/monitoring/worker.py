"""`hub monitor run`: the faust app that turns the dossier stream and the hub's state into the
hub.monitoring.* topics.

- ``sla`` agent: folds dossier events into the SLA monitor's SQL state and publishes the conditions
  they raise or clear; the ``sla-clock`` timer (leader only) does the same for conditions time brings.
- ``health`` timer (leader only): samples connector and hub health.
Durable state lives in SQL, not in faust tables (faust tables rebuilt from changelogs after a
rebalance came out wrong on the test broker: 199 of 200). The app runs at least once (the test broker grants
aiokafka no producer id, so no exactly_once); the outbox and deterministic record ids make it
exactly once in effect for consumers that drop repeated ids.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import faust
from sqlalchemy.engine import Engine

from hub.bootstrap import make_codec, make_log_end
from hub.domain.events import Event
from hub.errors import DecodeError
from hub.log.kafka_log import TopicSpec
from hub.log.kafka_security import faust_credentials
from hub.monitoring import outbox
from hub.monitoring.health import HealthMonitor, Thresholds
from hub.monitoring.records import TOPICS
from hub.monitoring.replay import Replay
from hub.monitoring.sla_monitor import SlaMonitor
from hub.process.business_clock import BusinessClock
from hub.settings import Settings
from hub.store.sql_store import monitor_marks_table, upsert

__all__ = ["build_app", "monitoring_topics"]

log = logging.getLogger(__name__)


def monitoring_topics(settings: Settings) -> list[TopicSpec]:
    prefix = settings.monitor_topic_prefix
    return [TopicSpec(prefix + kind, settings.monitor_topic_partitions, settings.topic_replication) for kind in TOPICS]


def _broker(settings: Settings) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(","))


def data_dir(settings: Settings) -> Path:
    """The worker's directory for faust's local files, made with its parents: faust makes only the last
    level, and the default's var/ need not exist yet."""
    path = settings.monitor_data_dir or Path("var") / f"{settings.monitor_app_id}-data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_app(settings: Settings, engine: Engine, clock: BusinessClock) -> faust.App:
    session_s = settings.kafka_session_timeout_ms / 1000
    app = faust.App(
        settings.monitor_app_id,
        broker=_broker(settings),
        web_enabled=False,
        store="memory://",
        topic_partitions=settings.monitor_topic_partitions,
        topic_replication_factor=settings.topic_replication,
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(session_s / 6, 0.5),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_credentials=faust_credentials(settings),
        datadir=str(data_dir(settings)),
    )
    codec = make_codec(settings)
    prefix = settings.monitor_topic_prefix
    sla = SlaMonitor(engine, timedelta(seconds=settings.monitor_sla_horizon_s), prefix)
    dead_letters_end = make_log_end(settings, settings.dead_letter_topic)
    health = HealthMonitor(engine, Thresholds.of(settings), lambda: sum(dead_letters_end().values()), prefix)
    topics = {prefix + k: app.topic(prefix + k, key_serializer="raw", value_serializer="raw") for k in TOPICS}
    lock = asyncio.Lock()  # one outbox flush at a time keeps each key's records in order

    async def send(topic: str, key: bytes, value: bytes) -> Any:
        return await topics[topic].send(key=key, value=value)

    async def publish() -> None:
        async with lock:
            await outbox.flush(engine, send)

    dossier_topic = app.topic(settings.dossier_topic, key_serializer="raw", value_serializer="raw")
    replay = Replay(engine, settings.dossier_topic, make_log_end(settings)(), lambda: app.assignor.assigned_actives())

    @app.agent(dossier_topic, name="sla")
    async def follow(stream: Any) -> None:  # a faust Stream (StreamT lacks take_events)
        async for batch in stream.take_events(500, within=0.5):
            events: list[Event] = []
            history: list[Event] = []
            unreadable = []
            for item in batch:
                try:
                    decoded = codec.decode(item.value)
                    (history if replay.saw(item.message.partition, item.message.offset) else events).append(decoded)
                except DecodeError as exc:  # the projections park it in the dead-letter topic; count it here
                    where = f"{item.message.partition}:{item.message.offset}"
                    log.warning("unreadable dossier-topic message at %s: %s", where, exc.reason)
                    unreadable.append({"kind": "unreadable", "mark": where, "source": exc.reason[:64]})
            await asyncio.to_thread(_apply, sla, history, events, unreadable, clock)
            await asyncio.to_thread(replay.save, dict(replay.reached))
            await publish()

    @app.timer(settings.monitor_scan_interval_s, on_leader=True, name="sla-clock")  # type: ignore[untyped-decorator]  # faust's timer is untyped
    async def sla_clock() -> None:
        if await asyncio.to_thread(replay.active):
            return  # dossiers still being replayed are judged once their history is in
        await asyncio.to_thread(sla.scan, clock.now())
        await publish()

    @app.timer(settings.monitor_health_interval_s, on_leader=True, name="health")  # type: ignore[untyped-decorator]  # faust's timer is untyped
    async def sample_health() -> None:
        await asyncio.to_thread(health.tick, clock.real_now())
        await publish()

    @app.task  # type: ignore[untyped-decorator]  # faust's task is untyped
    async def publish_leftovers() -> None:  # what a crashed run wrote but did not publish
        await publish()

    return app


def _apply(
    sla: SlaMonitor, history: list[Event], events: list[Event], unreadable: list[dict[str, str]], clock: BusinessClock
) -> None:
    if unreadable:
        with sla.engine.begin() as conn:
            upsert(conn, monitor_marks_table, unreadable)
    if history:
        sla.apply(history, clock.now(), evaluate=False)
    if events:
        sla.apply(events, clock.now())
