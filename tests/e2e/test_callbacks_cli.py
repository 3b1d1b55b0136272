"""``hub callbacks serve`` from the command line: the PayGov and VNPost endpoints answer, refuse what
they must, and record tracking on the log; settings without secrets refuse to start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import orjson

from connectors.paygov.signature import sign
from connectors.vnpost.codes import body_signature
from hub.domain.events import EventType
from hub.settings import Settings
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
        vnpost_secret="post-secret",
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
            "ThoiGianGD": "20260504101500",
        }
        forged = httpx.post(f"{base}/callbacks/paygov/ipn", json={**fields, "MaXacThuc": sign(fields, "guess")})
        assert forged.status_code == 401 and forged.json()["MaLoi"] == "97"
        unknown = httpx.post(f"{base}/callbacks/paygov/ipn", json={**fields, "MaXacThuc": sign(fields, "pay-secret")})
        assert unknown.status_code == 404, "a signed IPN for a payment the hub never asked for is not a payment"
        body = orjson.dumps(
            {
                "ItemCode": "EB000000001VN",
                "OrderNumber": "G01-1",
                "OrderType": "TRA_KET_QUA",
                "StatusCode": "500",
                "Time": "20260504101500",
            }
        )
        signed = {"X-Signature": body_signature(body, "post-secret"), "Content-Type": "application/json"}
        delivered = httpx.post(f"{base}/callbacks/vnpost/tracking", content=body, headers=signed)
        assert delivered.status_code == 200, delivered.text
        huge = httpx.post(f"{base}/callbacks/vnpost/tracking", content=b"{" + b" " * 20_000 + b"}", headers=signed)
        assert huge.status_code == 413
    finally:
        child.terminate()
        child.wait(timeout=10)
    kinds = [e.event_type for e in read_log(settings)]
    assert kinds == [EventType.POSTAL_STATUS_CHANGED, EventType.RESULT_RETURNED]
    status = run_hub(settings, "policies", "status", env={"HUB_DATABASE_URL": env["HUB_DATABASE_URL"]})
    assert status.returncode == 1 and "run `hub projections run`" in status.stderr, "no read models yet: said so"
    no_secret = {k: v for k, v in env.items() if k != "HUB_PAYGOV_SECRET"}
    refused = subprocess.run([HUB, "callbacks", "serve"], env=no_secret, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "HUB_PAYGOV_SECRET" in refused.stderr and "Traceback" not in refused.stderr
