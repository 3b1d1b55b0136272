"""A flood of junk callbacks from one address is held off and counted, not recorded row by row, and a
gateway at another address is still heard."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from connectors.common.record_fields import local_text
from connectors.common.security_log import ONE_BY_ONE, refusals
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.paygov.signature import sign
from connectors.vnpost.tracking import TrackingReceiver
from hub.api.callbacks import make_callback_app
from hub.process.rate_limit import RateLimiter
from hub.store.sql_store import make_engine, migrate, paygov_table, security_events_table
from tests.support.fakes import RecordingLog

KEY = "ipn-key-of-the-gateway"
REF = "MC0123456789ABCDEF01"


def test_six_hundred_junk_posts_become_a_few_counted_rows_and_a_genuine_ipn_gets_through(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(paygov_table).values(
                payment_ref=REF, dossier_code="G01-1", amount_vnd=100_000, initiated=True, updated_at=datetime.now(UTC)
            )
        )
    log = RecordingLog()
    app = make_callback_app(
        paygov=IpnReceiver(PaymentBook(engine, log), KEY),
        vnpost=TrackingReceiver(engine, log, "vnpost-key"),
        limiter=RateLimiter(rate_per_s=0.001, burst=50.0),
    )
    with TestClient(app, client=("198.51.100.7", 40000)) as attacker:  # the endpoint stops at the end
        answers = [
            attacker.post("/callbacks/paygov/ipn", json={"MaThamChieu": REF, "MaLoi": "00"}).status_code
            for _ in range(600)
        ]
    assert answers.count(400) == 50 and answers.count(429) == 550, "the burst is read, the rest held off"

    fields = {"LoaiBanTin": "1", "MaLoi": "00", "MaThamChieu": REF, "SoTien": "100000", "MaGiaoDich": "GD1",
              "MaNganHang": "VCB", "ThoiGianGD": local_text(datetime.now(UTC))}  # fmt: skip
    gateway = TestClient(app, client=("203.0.113.10", 40000))
    genuine = gateway.post("/callbacks/paygov/ipn", json={**fields, "MaXacThuc": sign(fields, KEY)})
    assert genuine.status_code == 200 and genuine.json()["MoTa"] == "recorded", "the gateway is still heard"

    with engine.connect() as conn:  # the counts held back were written when the endpoint stopped
        rows = conn.execute(sa.select(sa.func.count()).select_from(security_events_table)).scalar_one()
    assert rows == 2 * (ONE_BY_ONE + 1), "per kind: a few one by one, then one counted row"
    assert refusals(engine) == {"malformed": 50, "rate_limited": 550}, "nothing refused goes uncounted"
    assert [e.event_type.value for e in log.events] == ["PaymentConfirmed"]
