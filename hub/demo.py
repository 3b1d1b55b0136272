"""``hub demo``: the hub end to end on loopback, as far as it is built.

Today: the embedded broker, the dossier log, sample dossiers from three systems, a consumer that
reads them back per dossier, and dead-lettering of bad messages. Simulators, connectors,
projections and the dashboard join as they land.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable

from pydantic import SecretStr

from hub.bootstrap import make_codec
from hub.consuming import decode_batch
from hub.dead_letters import DeadLetters
from hub.event_text import event_line
from hub.events import Event
from hub.kafka_log import KafkaEventLog, KafkaRecordSource, ensure_topics, hub_topics
from hub.local.tansu import EmbeddedBroker
from hub.ports import Record
from hub.sample_dossiers import sample_dossiers
from hub.settings import Settings

__all__ = ["run_demo"]


def _read_all(source: KafkaRecordSource, expected: int, timeout_s: float = 30.0) -> list[Record]:
    """Everything up to ``expected`` records (counted, not taken from end offsets: see TESTING.md)."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        records.extend(source.poll(timeout_s=0.5))
    return records


def run_demo(settings: Settings, *, embedded: bool, echo: Callable[[str], None]) -> None:
    broker = EmbeddedBroker().start() if embedded else None
    try:
        if broker is not None:
            settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "topic_partitions": 3})
            echo(f"embedded Kafka-protocol broker (Tansu, memory) on {broker.bootstrap}")
        if settings.identity_key is None and settings.identity_key_file is None:
            settings = settings.model_copy(update={"identity_key": SecretStr(secrets.token_hex(16))})
            echo("no HUB_IDENTITY_KEY set: using a throwaway key for this run")
        for name, outcome in ensure_topics(settings, hub_topics(settings)).items():
            echo(f"topic {name}: {outcome}")

        codec = make_codec(settings)
        log = KafkaEventLog(settings, codec)
        events = sample_dossiers(settings.identity_key_bytes())
        log.append(events)
        echo(
            f"published {len(events)} events ({codec.wire_format.value} Avro) for "
            f"{len({e.dossier_code for e in events})} dossiers"
        )
        bad = [b"{'MaHoSo': 'not avro'}", codec.encode(events[0])[:-7]]
        for value in bad:  # a misbehaving producer: the hub must park these, not crash or drop them
            log.send_raw(settings.dossier_topic, b"000.00.20.H56-260609-0009", value, [])
        echo(f"published {len(bad)} malformed messages as a misbehaving producer would")

        source = KafkaRecordSource(settings, [settings.dossier_topic], group_id="hub-demo", session_timeout_ms=6000)
        dead_letters = DeadLetters(log, settings.dead_letter_topic)
        try:
            decoded = decode_batch(_read_all(source, len(events) + len(bad)), codec, dead_letters, "hub-demo")
        finally:
            source.close()
        timelines: dict[str, list[Event]] = defaultdict(list)
        for _, event in decoded:
            timelines[event.dossier_code].append(event)
        for code, timeline in sorted(timelines.items()):
            echo(f"\ntimeline of {code}:")
            for event in sorted(timeline, key=lambda e: (e.occurred_at, str(e.event_id))):
                echo("  " + event_line(event))

        parked = KafkaRecordSource(settings, [settings.dead_letter_topic])
        try:
            dlq = _read_all(parked, len(bad), timeout_s=10)
        finally:
            parked.close()
        echo(f"\ndead-letter topic {settings.dead_letter_topic}: {len(dlq)} parked")
        for record in dlq:
            reason, topic, offset = (
                (record.header(h) or b"").decode() for h in ("dlq.reason", "dlq.topic", "dlq.offset")
            )
            echo(f"  {reason}  (from {topic}@{offset})")
        log.close()
        echo(f"\ndemo done: {len(decoded)} events read back, {sum(dead_letters.parked.values())} parked")
    finally:
        if broker is not None:
            broker.stop()
