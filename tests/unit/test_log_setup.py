"""JSON logs carry the facts of a log call as fields, and never a raw identity number."""

from __future__ import annotations

import json
import logging

import pytest

from hub.dead_letters import DeadLetters
from hub.log_setup import configure_logging
from tests.fakes import RecordingSink


def test_json_log_lines_have_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        DeadLetters(RecordingSink(), "dlq").park_upstream(b"{}", "MaHoSo is missing", "onestop", "42")
    finally:
        configure_logging("WARNING", "text")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["level"] == "WARNING" and line["logger"] == "hub.dead_letters"
    assert (line["event"], line["source"], line["record_id"], line["reason"]) == (
        "parked",
        "onestop",
        "42",
        "MaHoSo is missing",
    )
    assert logging.getLogger().handlers[0].formatter is not None
