"""Fuzzing every parser of external input with hypothesis: one-stop SOAP records,
portal REST records, PayGov IPN callbacks, VNPost tracking callbacks, dossier codes. Whatever comes in,
nothing crashes: a record becomes events, or it is refused with a reason."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.common.record_fields import local_text
from connectors.common.security_log import flush_refusals
from connectors.dvcqg.mapping import map_portal_record
from connectors.onestop.mapping import map_change
from connectors.paygov.book import Expected
from connectors.paygov.ipn import IpnReceiver
from connectors.paygov.signature import IPN_FIELDS, sign
from connectors.vnpost.codes import TRACKING, body_signature
from connectors.vnpost.tracking import TrackingReceiver
from hub.domain.dossier_code import parse_dossier_code
from hub.domain.events import Event
from hub.errors import MappingError
from hub.store.sql_store import make_engine, migrate, security_events_table, upsert, vnpost_table
from tests.support.fakes import RecordingLog

KEY = b"fuzz-identity-key-0123456789"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values of the shapes upstream systems send, and of shapes they should not.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["20260302083000", "2026-03-02T08:30:00+07:00", "31/02/2026", "", " ", "001203004567", "0"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def mutated(seeds: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Real records (seeds), each field mostly kept, sometimes replaced by junk of any type, sometimes
    dropped; plus unknown fields. Mostly-valid records reach the deep paths; junk probes every check."""

    def mutate(seed: dict[str, Any], changes: list[tuple[str, Any]], noise: dict[str, Any]) -> dict[str, Any]:
        out = dict(seed)
        for (mode, junk), name in zip(changes, list(seed), strict=False):
            if mode == "drop":
                out.pop(name, None)
            elif mode == "junk":
                out[name] = junk
        return {**noise, **out}

    change = st.tuples(st.sampled_from(["keep"] * 14 + ["junk", "drop"]), values)
    return st.builds(
        mutate,
        st.sampled_from(seeds),
        st.lists(change, min_size=25, max_size=25),
        st.dictionaries(st.text(max_size=12), values, max_size=2),
    )


def _onestop_seeds() -> list[dict[str, Any]]:
    """Every valid change of a simulated province, SO_HOA ones with the file metadata the client adds."""
    from simulators.onestop.world import build_world

    world = build_world(60, seed=7)
    return [world.as_read(change) for change in world.changes if change.malformed is None]


def _portal_seeds() -> list[dict[str, Any]]:
    from simulators.dvcqg.world import build_portal_world
    from simulators.onestop.world import build_world

    return [r.record() for r in build_portal_world(build_world(200, seed=7), 7).records if r.malformed is None]


def _only_events_or_a_reason(call: Any, *args: Any) -> None:
    try:
        found = call(*args)
    except MappingError as exc:
        assert str(exc).strip(), "a refusal must say why"
        event("refused")
        return
    event("mapped")
    events = found if isinstance(found, list) else [found]
    assert all(isinstance(e, Event) for e in events)


@FUZZ
@given(mutated(_onestop_seeds()))
def test_onestop_records_become_an_event_or_a_reason(record: dict[str, Any]) -> None:
    _only_events_or_a_reason(map_change, record, KEY)


@FUZZ
@given(mutated(_portal_seeds()))
def test_portal_records_become_an_event_or_a_reason(record: dict[str, Any]) -> None:
    _only_events_or_a_reason(map_portal_record, record, KEY)


@FUZZ
@given(
    st.text(max_size=80)
    | st.sampled_from(["000.00.12.H34-260302-0001", "H34-20260230-1", " 000.00.12.H34-260302-0001 "])
)
def test_dossier_codes_parse_or_are_refused_with_a_reason(text: str) -> None:
    try:
        found = parse_dossier_code(text)
    except ValueError as exc:
        assert str(exc).strip()
        return
    assert found.code == text.strip() and found.code and len(found.code) <= 64


class _Book:
    """The PaymentBook port: payments asked under references starting MC, of 150,000 VND."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.settled: Counter[str] = Counter()

    def expected(self, ref: str) -> Expected | None:
        return Expected(ref, "D1", 150_000) if ref.startswith("MC") else None

    def settle(self, expected: Expected, *, paid: bool, **_: Any) -> str:
        self.settled[expected.ref] += 1
        return "confirmed" if paid else "failed"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> sa.Engine:
    found = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'store.sqlite3'}")
    migrate(found)
    with found.begin() as conn:  # the orders the tracking seeds are for, as the postal policy places them
        for direction in ("PICKUP", "DELIVERY"):
            order = {"order_key": f"000.00.12.H34-260302-0001:{direction}", "direction": direction}
            row = {**order, "dossier_code": "000.00.12.H34-260302-0001", "updated_at": datetime.now(UTC)}
            upsert(conn, vnpost_table, [{**row, "item_code": "EB123456789VN"}])
    return found


def _refusals(engine: sa.Engine) -> list[str]:
    """Each refusal recorded so far, its reason once per refusal it counts (counted ones written out)."""
    flush_refusals()
    with engine.connect() as conn:
        rows = conn.execute(sa.select(security_events_table.c.detail, security_events_table.c.count)).all()
    return [detail for detail, count in rows for _ in range(count)]


RECENT = local_text(datetime.now(UTC) - timedelta(hours=1))  # within the callbacks' freshness window
IPN_SEEDS = [
    {"LoaiBanTin": "IPN", "MaLoi": code, "MaThamChieu": ref, "SoTien": amount, "MaGiaoDich": "GD0001",
     "MaNganHang": "VCB", "ThoiGianGD": RECENT}
    for code in ("00", "24") for ref in ("MC0123456789abcdef01", "XX0123") for amount in (150_000, "150000", 149_999)
]  # fmt: skip


@FUZZ
@given(mutated(IPN_SEEDS), st.booleans())
def test_ipn_callbacks_are_settled_or_refused_with_a_reason(
    engine: sa.Engine, body: dict[str, Any], signed: bool
) -> None:
    secret = "fuzz-paygov-secret"
    if signed and all(isinstance(body.get(f), str | int) for f in IPN_FIELDS):
        body["MaXacThuc"] = sign(body, secret)
    receiver = IpnReceiver(_Book(engine), secret)  # type: ignore[arg-type]  # the PaymentBook port
    before = len(_refusals(engine))
    status, answer = receiver.receive(body, remote="203.0.113.9")
    event(f"IPN {status}")
    assert status in (200, 400, 401, 404, 409), (status, answer)
    assert answer["MaLoi"] and answer["MoTa"]
    refused = _refusals(engine)[before:]
    if status == 200:
        assert refused == []
    else:
        assert len(refused) == 1 and refused[0].strip(), "every refusal is recorded with its reason"


TRACK_SEEDS = [
    {"ItemCode": "EB123456789VN", "StatusCode": code, "OrderNumber": "000.00.12.H34-260302-0001",
     "OrderType": kind, "Time": RECENT, "Location": "Bưu cục Hà Đông", "Note": None}
    for code in sorted(TRACKING) for kind in ("NHAN_HO_SO", "TRA_KET_QUA")
]  # fmt: skip


@FUZZ
@given(mutated(TRACK_SEEDS) | st.lists(values, max_size=2) | values, st.booleans(), st.booleans())
def test_tracking_callbacks_are_recorded_or_refused_with_a_reason(
    engine: sa.Engine, raw: Any, as_json: bool, signed: bool
) -> None:
    secret = "fuzz-vnpost-secret"
    body = json.dumps(raw, default=str).encode() if as_json else repr(raw).encode()
    log = RecordingLog()
    receiver = TrackingReceiver(engine, log, secret)
    before = len(_refusals(engine))
    status, answer = receiver.receive(body, body_signature(body, secret) if signed else "00" * 32, remote="203.0.113.9")
    event(f"tracking {status}")
    assert status in (200, 400, 401, 404), (status, answer)
    assert answer["Message"]
    refused = _refusals(engine)[before:]
    if status == 200:
        assert log.events and refused == []
        assert all(e.occurred_at <= datetime.now(UTC) + timedelta(days=3650) for e in log.events)
    else:
        assert len(refused) == 1 and refused[0].strip() and log.events == []
