"""JSON logs carry the facts of a log call as fields, and never a raw identity number."""

from __future__ import annotations

import json
import logging

import pytest

from hub.log.dead_letters import DeadLetters
from hub.process.log_setup import RepeatFilter, configure_logging
from tests.support.fakes import RecordingSink


def test_json_log_lines_have_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        DeadLetters(RecordingSink(), "dlq").park_upstream(b"{}", "MaHoSo is missing", "onestop", "42")
    finally:
        configure_logging("WARNING", "text")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "WARNING" and line["logger"] == "hub.log.dead_letters"
    assert (line["event"], line["source"], line["record_id"], line["reason"]) == (
        "parked",
        "onestop",
        "42",
        "MaHoSo is missing",
    )
    assert logging.getLogger().handlers[0].formatter is not None


def test_a_kafka_clients_repeated_complaint_is_shown_once_per_window_with_a_count() -> None:
    now = [0.0]
    repeats = RepeatFilter(window_s=30, clock=lambda: now[0])

    def shown(name: str, msg: str, *args: object, level: int = logging.ERROR) -> str | None:
        record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
        return record.getMessage() if repeats.filter(record) else None

    assert shown("kafka.net.transport", "%s: socket disconnected", "<port 1>") == "<port 1>: socket disconnected"
    for port in range(2, 42):
        now[0] += 0.5
        assert shown("kafka.net.transport", "%s: socket disconnected", f"<port {port}>") is None
    assert shown("kafka.net.connection", "%s: Connection lost", "<node>") == "<node>: Connection lost", "another logger"
    assert shown("hub.log.dead_letters", "parked %s", "x") == "parked x", "the hub's own lines are never held back"
    assert shown("aiokafka.conn", "Unable to connect to %s", "b:9092") == "Unable to connect to b:9092"
    assert shown("aiokafka.conn", "Unable to connect to %s", "b:9092") is None, "aiokafka's repeats are held too"
    assert shown("kafka.conn", "%s: connecting", "b", level=logging.INFO) == "b: connecting", "below WARNING"
    now[0] = 31.0
    assert shown("kafka.net.transport", "%s: socket disconnected", "<port 99>") == (
        "<port 99>: socket disconnected (and 40 more like this since the last one shown)"
    )
    now[0] = 40.0
    assert shown("kafka.net.transport", "%s: socket disconnected", "<port 100>") is None
