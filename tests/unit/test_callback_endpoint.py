"""The callback endpoint's own limits, before any receiver reads a byte, and the content type it reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from connectors.common.record_fields import local_text
from connectors.common.security_log import refusals
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.paygov.signature import sign
from connectors.vnpost.codes import body_signature
from connectors.vnpost.tracking import TrackingReceiver
from hub.api.callbacks import build_callback_app, make_callback_app
from hub.settings import Settings
from hub.store.sql_store import make_engine, migrate
from tests.support.fakes import RecordingLog


def test_oversized_and_unparsable_bodies_are_refused_with_a_reason(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    migrate(engine)
    log = RecordingLog()
    app = make_callback_app(
        paygov=IpnReceiver(PaymentBook(engine, log), "s1"),
        vnpost=TrackingReceiver(engine, log, "s2"),
        max_bytes=1024,
    )
    client = TestClient(app)
    assert client.get("/healthz").json() == {"status": "ok"}
    huge = b"{" + b" " * 2000 + b"}"
    for path in ("/callbacks/paygov/ipn", "/callbacks/vnpost/tracking"):
        reply = client.post(path, content=huge, headers={"Content-Type": "application/json"})
        assert reply.status_code == 413 and "1024" in reply.text
    reply = client.post("/callbacks/paygov/ipn", content=b"{}", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["MaLoi"] == "02"
    # A browser may post text/plain across sites without asking first: only application/json is read.
    for path in ("/callbacks/paygov/ipn", "/callbacks/vnpost/tracking"):
        reply = client.post(path, content=b'{"MaLoi": "00"}', headers={"Content-Type": "text/plain"})
        assert reply.status_code == 415, path
    assert log.events == [] and refusals(engine) == {"malformed": 1, "content_type": 2}
    engine.dispose()


def test_an_ipn_signed_with_the_merchant_secret_is_refused_when_the_ipn_key_differs(tmp_path: Path) -> None:
    settings = Settings(
        demo=False,
        database_url=f"sqlite:///{tmp_path}/hub.sqlite3",
        paygov_secret="merchant-secret-seen-by-every-proxy",
        paygov_ipn_key="ipn-key-known-to-paygov-only",
        vnpost_secret="vnpost-token-seen-by-every-proxy",
        vnpost_callback_key="vnpost-key-known-to-vnpost-only",
    )
    client = TestClient(build_callback_app(settings, RecordingLog()))
    fields = {
        "LoaiBanTin": "1",
        "MaLoi": "00",
        "MaThamChieu": "MC0123456789ABCDEF01",
        "SoTien": "100000",
        "MaGiaoDich": "GD1",
        "MaNganHang": "VCB",
        "ThoiGianGD": local_text(datetime.now(UTC)),
    }
    forged = {**fields, "MaXacThuc": sign(fields, "merchant-secret-seen-by-every-proxy")}
    assert client.post("/callbacks/paygov/ipn", json=forged).status_code == 401
    genuine = {**fields, "MaXacThuc": sign(fields, "ipn-key-known-to-paygov-only")}
    assert client.post("/callbacks/paygov/ipn", json=genuine).status_code == 404, "verified, then: no such payment"
    body = b'{"ItemCode": "EB1"}'
    with_token = body_signature(body, "vnpost-token-seen-by-every-proxy")
    answer = client.post(
        "/callbacks/vnpost/tracking",
        content=body,
        headers={"Content-Type": "application/json", "X-Signature": with_token},
    )
    assert answer.status_code == 401
