"""``hub callbacks serve`` from the command line: the PayGov and VNPost endpoints answer, refuse what
they must, and record tracking on the log; settings without secrets refuse to start."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from connectors.common.record_fields import local_text
from connectors.paygov.signature import sign
from connectors.vnpost.codes import body_signature
from hub.domain.events import EventType
from hub.settings import Settings
from hub.store.sql_store import make_engine, upsert, vnpost_table
from simulators.local.free_ports import free_port, wait_for_port
from simulators.province.read_back import fresh_topic, read_log
from tests.support.processes import HUB, hub_env, run_hub


def test_the_callback_endpoint_serves_both_gateways(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = fresh_topic(kafka_settings)
    port = free_port()
    env = hub_env(
        settings,
        database_url=f"sqlite:///{tmp_path}/hub.sqlite3",
        callback_port=str(port),
        paygov_secret="pay-secret",
        paygov_ipn_key="pay-ipn-key",
        vnpost_secret="post-secret",
        vnpost_callback_key="post-callback-key",
    )
    child = subprocess.Popen([HUB, "callbacks", "serve"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, 30, alive=lambda: child.poll() is None)
        base = f"http://127.0.0.1:{port}"
        fields = {
            "LoaiBanTin": "1",
            "MaLoi": "00",
            "MaThamChieu": "MC1",
            "SoTien": "1000",
            "MaGiaoDich": "G",
            "MaNganHang": "VCB",
            "ThoiGianGD": local_text(datetime.now(UTC)),
        }
        forged = httpx.post(f"{base}/callbacks/paygov/ipn", json={**fields, "MaXacThuc": sign(fields, "guess")})
        assert forged.status_code == 401 and forged.json()["MaLoi"] == "97"
        with_secret = httpx.post(
            f"{base}/callbacks/paygov/ipn", json={**fields, "MaXacThuc": sign(fields, "pay-secret")}
        )
        assert with_secret.status_code == 401, "the merchant secret travels with every call: it signs nothing"
        unknown = httpx.post(f"{base}/callbacks/paygov/ipn", json={**fields, "MaXacThuc": sign(fields, "pay-ipn-key")})
        assert unknown.status_code == 404, "a signed IPN for a payment the hub never asked for is not a payment"
        body = orjson.dumps(
            {
                "ItemCode": "EB000000001VN",
                "OrderNumber": "G01-1",
                "OrderType": "TRA_KET_QUA",
                "StatusCode": "500",
                "Time": local_text(datetime.now(UTC)),
            }
        )
        signed = {"X-Signature": body_signature(body, "post-callback-key"), "Content-Type": "application/json"}
        never_ordered = httpx.post(f"{base}/callbacks/vnpost/tracking", content=body, headers=signed)
        assert never_ordered.status_code == 404, "the hub placed no order for G01-1"
        engine = make_engine(env["HUB_DATABASE_URL"])
        with engine.begin() as conn:  # as the postal policy records its order
            order = {"order_key": "G01-1:DELIVERY", "dossier_code": "G01-1", "direction": "DELIVERY"}
            upsert(conn, vnpost_table, [{**order, "item_code": "EB000000001VN", "updated_at": datetime.now(UTC)}])
        engine.dispose()
        delivered = httpx.post(f"{base}/callbacks/vnpost/tracking", content=body, headers=signed)
        assert delivered.status_code == 200, delivered.text
        again = httpx.post(f"{base}/callbacks/vnpost/tracking", content=body, headers=signed)
        assert again.status_code == 200, "a replay is acknowledged (and not appended again: see the log below)"
        huge = httpx.post(f"{base}/callbacks/vnpost/tracking", content=b"{" + b" " * 20_000 + b"}", headers=signed)
        assert huge.status_code == 413
    finally:
        child.terminate()
        child.wait(timeout=10)
    kinds = [e.event_type for e in read_log(settings)]
    assert kinds == [EventType.POSTAL_STATUS_CHANGED, EventType.RESULT_RETURNED]
    status = run_hub(settings, "policies", "status", env={"HUB_DATABASE_URL": env["HUB_DATABASE_URL"]})
    assert status.returncode == 1 and "run `hub projections run`" in status.stderr, "no read models yet: said so"
    no_secret = {k: v for k, v in env.items() if k not in ("HUB_PAYGOV_SECRET", "HUB_PAYGOV_IPN_KEY")}
    refused = subprocess.run([HUB, "callbacks", "serve"], env=no_secret, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "HUB_PAYGOV_SECRET" in refused.stderr and "Traceback" not in refused.stderr
