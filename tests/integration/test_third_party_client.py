"""A third-party client (confluent-kafka / librdkafka) reads the published events and decodes them
using nothing but the files in schemas/ (fastavro resolves the named types between them)."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any, cast

import fastavro
import fastavro.schema
from confluent_kafka import Consumer

from hub.bootstrap import make_log
from hub.settings import Settings
from tests.support.processes import lifecycle

SCHEMAS_DIR = Path(__file__).parents[2] / "schemas"


def test_librdkafka_consumer_decodes_with_only_the_schema_files(kafka_settings: Settings) -> None:
    events = lifecycle(4)
    log = make_log(kafka_settings)
    log.append(events)
    log.close()

    # What an outside team does: load the .avsc files, index every published version by fingerprint.
    writers: dict[bytes, Any] = {}
    sources = [SCHEMAS_DIR / "dossier" / "vn.motcua.events.DossierEvent.avsc"]
    sources += sorted((SCHEMAS_DIR / "history" / "dossier").glob("*.avsc"))
    for path in sources:
        parsed = fastavro.schema.load_schema(str(path))
        canonical = fastavro.schema.to_parsing_canonical_form(parsed)
        writers[bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))] = parsed

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_settings.kafka_bootstrap,
            "group.id": "librdkafka-reader",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([kafka_settings.dossier_topic])
    decoded: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(decoded) < len(events) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            value: bytes = message.value() or b""
            assert value[:2] == b"\xc3\x01"
            datum = cast(
                dict[str, Any],
                fastavro.schemaless_reader(io.BytesIO(value[10:]), writers[value[2:10]], None, return_record_name=True),
            )
            assert (message.key() or b"").decode() == datum["dossier_code"]
            decoded.append(datum)
    finally:
        consumer.close()
    assert sorted(str(d["event_id"]) for d in decoded) == sorted(str(e.event_id) for e in events)
    kinds = {d["payload"][0].rsplit(".", 1)[-1] for d in decoded}
    assert kinds == {"DossierSubmitted", "DossierAccepted", "DossierWithdrawn"}
