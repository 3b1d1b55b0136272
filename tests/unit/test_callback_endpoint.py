"""The callback endpoint's own limits, before any receiver reads a byte."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from connectors.common.security_log import refusals
from connectors.paygov.book import PaymentBook
from connectors.paygov.ipn import IpnReceiver
from connectors.vnpost.tracking import TrackingReceiver
from hub.api.callbacks import make_callback_app
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
    reply = client.post("/callbacks/paygov/ipn", content=b"MaLoi=00", headers={"Content-Type": "text/plain"})
    assert reply.status_code == 400 and reply.json()["MaLoi"] == "02"
    assert log.events == [] and refusals(engine) == {"malformed": 1}
    engine.dispose()
