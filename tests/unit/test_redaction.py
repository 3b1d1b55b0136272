"""Identity numbers never survive the hub's free-text paths: a property test of the matcher over many
surroundings, then each edge where text enters or leaves (mappings, new events, error texts, logs,
connector state)."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.common.record_fields import redact_identities
from connectors.onestop.mapping import map_change
from hub.domain.events import EventType, new_event
from hub.domain.identity import redact
from hub.process.log_setup import RedactFilter, configure_logging
from hub.store.connector_state import ConnectorState, ConnectorStateStore
from hub.store.sql_store import make_engine, migrate
from simulators.onestop.world import build_world

CCCD = st.from_regex(r"0[0-9]{2}[1-9][0-9]{8}", fullmatch=True)  # province 001-096, then a birth year
CMND = st.from_regex(r"[1-9][0-9]{8}", fullmatch=True)
PASSPORT = st.from_regex(r"[A-Za-z][0-9]{7}", fullmatch=True)


def _written(number: str, style: str) -> str:
    if style == "plain" or not number.isdigit():
        return number
    if style == "as-number":  # a system that stored the CCCD as a number lost its leading zero
        return number.lstrip("0") or "0"
    size = 4 if style == "dotted-4" and len(number) == 12 else 3
    sep = {"spaced": " ", "dashed": "-", "dotted-3": ".", "dotted-4": "."}[style]
    return sep.join(number[i : i + size] for i in range(0, len(number), size))


@settings(max_examples=400, deadline=None)
@given(
    number=CCCD | CMND | PASSPORT,
    style=st.sampled_from(["plain", "as-number", "spaced", "dashed", "dotted-3", "dotted-4"]),
    before=st.sampled_from(["", " ", "CCCD", "cccd_", "CCCD: ", "số ", "(", '{"SoDinhDanh": ', "x", "đã đối chiếu "]),
    after=st.sampled_from(["", " ", ".", ",", ")", "}", "y", " của công dân", "\n"]),
)
def test_no_identity_number_survives_in_any_surrounding(number: str, style: str, before: str, after: str) -> None:
    written = _written(number, style)
    out = redact(f"Hồ sơ {before}{written}{after} đã xử lý")
    digits_out = re.sub(r"[ .\-]", "", out)
    core = written if not written.isdigit() and style != "as-number" else re.sub(r"\D", "", written)
    assert core.lower() not in digits_out.lower(), (written, out)


def test_ids_digests_item_codes_times_and_dossier_codes_are_kept() -> None:
    text = (
        "event 550e8400-e29b-41d4-a716-446655440000 item EB123456789VN at 2026-03-02 08:30:00 "
        "code G09.20-20260609-0092637 and 000.00.20.H56-260609-0001, phone 0912 345 678, 1.500.000 VND, "
        "sha 0123456789012345678901234567890123456789abcdef0123456789abcdef"
    )
    assert redact(text) == text


def test_free_text_typed_upstream_is_masked_in_the_event() -> None:
    world = build_world(200, seed=3)
    change = next(c for c in world.changes if c.kind == "XU_LY" and c.malformed is None)
    record = {**change.record(), "NoiDungXuLy": "Đã đối chiếu CCCD 079203004512 và 079-203-004-513"}
    event = map_change(record, b"unit-test-identity-key")
    assert "079203004512" not in repr(event) and "079-203-004-513" not in repr(event)
    assert "079*******12" in event.payload["description"]


def test_every_new_event_masks_its_free_text_fields() -> None:
    event = new_event(
        EventType.DOSSIER_REFUSED,
        dossier_code="G01-1",
        source_system="ONESTOP",
        source_ref="r",
        occurred_at=datetime.now(UTC),
        payload={"reason": "CMND123456789 không khớp", "refused_by": "Trần Thị Bình"},
    )
    assert event.payload["reason"] == "CMND123****89 không khớp" and event.payload["refused_by"] == "Trần Thị Bình"


def test_identity_fields_are_masked_even_as_numbers() -> None:
    found = redact_identities({"DinhDanhCHS": {"SoDinhDanh": 79203004512, "MaDinhDanh": "079203004512"}})
    assert found == {"DinhDanhCHS": {"SoDinhDanh": "792******12", "MaDinhDanh": "079*******12"}}


def test_log_lines_and_their_exceptions_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("upstream said [{'SoDinhDanh': '079203004512'}]")
        except ValueError:
            logger.exception("one-stop refused %s", "CCCD079203004512")
    finally:
        logger.removeHandler(handler)
    assert "079203004512" not in stream.getvalue() and "079*******12" in stream.getvalue()


def test_the_hub_s_own_handler_masks(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    logging.getLogger("hub.test").warning("last error: %s", "079 203 004 512")
    err = capsys.readouterr().err
    assert "079 203 004 512" not in err and "079*******12" in err


def test_a_connector_s_last_error_is_stored_masked(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    migrate(engine)
    store = ConnectorStateStore(engine)
    store.save(ConnectorState("onestop", last_error="HTTP 500: [{'SoDinhDanh': '079203004512'}]"))
    assert store.load("onestop").last_error == "HTTP 500: [{'SoDinhDanh': '079*******12'}]"
