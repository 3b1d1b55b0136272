"""Confluent wire format against a registry over HTTP: register on first use, look up unknown ids."""

from __future__ import annotations

import pytest

from hub.bootstrap import make_codec
from hub.errors import DecodeError, UpstreamError
from hub.log.kafka_log import KafkaEventLog
from hub.log.kafka_source import KafkaRecordSource
from hub.log.schema_registry import HttpSchemaRegistry
from hub.settings import Settings
from simulators.local.http import BackgroundServer
from simulators.local.schema_registry import make_registry_app
from tests.support.processes import lifecycle, read_exactly


def test_events_round_trip_through_kafka_in_confluent_framing(kafka_settings: Settings) -> None:
    with BackgroundServer(make_registry_app()) as registry:
        settings = kafka_settings.model_copy(update={"schema_registry_url": registry.url})
        writer_codec = make_codec(settings)
        log = KafkaEventLog(settings, writer_codec)
        events = lifecycle(3)
        log.append(events)
        log.close()

        client = HttpSchemaRegistry(registry.url)
        assert client.register(f"{settings.dossier_topic}-value", writer_codec.schemas.current.json) == 1
        assert client.schema_by_id(99) is None

        reader_codec = make_codec(settings)  # a new process would start with an empty id cache
        source = KafkaRecordSource(settings, [settings.dossier_topic])
        records = read_exactly(source, len(events))
        source.close()
        assert all(r.value and r.value[:5] == b"\x00\x00\x00\x00\x01" for r in records)
        assert all(r.header("schema") == b"id:1" for r in records)
        decoded = [reader_codec.decode(r.value) for r in records]
        assert sorted(str(e.event_id) for e in decoded) == sorted(str(e.event_id) for e in events)
        with pytest.raises(DecodeError, match="unknown schema id 7"):
            reader_codec.decode(b"\x00\x00\x00\x00\x07" + (records[0].value or b"")[5:])


def test_registry_down_is_an_upstream_error_not_a_decode_error() -> None:
    with BackgroundServer(make_registry_app()) as registry:
        url = registry.url
    codec = make_codec(Settings(schema_registry_url=url, schema_registry_timeout_s=1))
    with pytest.raises(UpstreamError, match="unreachable"):
        codec.decode(b"\x00\x00\x00\x00\x01" + b"\x00" * 10)
