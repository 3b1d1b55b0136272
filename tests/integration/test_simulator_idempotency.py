"""A caller that leaves while its request body is still on the way does not lock its Idempotency-Key.

The simulators claim a key until its answer is remembered. A claim made before the body was read
stayed "in progress" for ever when the body never came, and every retry under that key got 409 (a CI
run of the national mirror test: two dossiers never mirrored). A raw socket sends the headers and half
the body, then hangs up; the retry with the whole body must be served.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from simulators.dvcqg.simulator import PortalSimulator
from simulators.dvcqg.world import build_portal_world
from simulators.onestop.world import build_world
from simulators.vnpost.simulator import VnpostSimulator

_BODIES: dict[str, dict[str, object]] = {
    "/api/DongBoHoSoMC": {"isUpdate": False, "data": [{"MaHoSo": "H56.99-261122-0001", "TrangThaiHoSo": 1}]},
    "/api/CapNhatTienDoHoSoMC": {"data": [{"MaHoSo": "H56.99-261122-0001", "TrangThai": 2}]},
    "/api/kho/ketqua": {"Ma": "KQ-1", "ChuSoHuu": "001099000001", "MaTep": "none", "ThongTin": {}},
}


def _hang_up_mid_body(url: str, path: str, headers: dict[str, str], body: bytes) -> None:
    parts = urlsplit(url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body[: len(body) // 2])
        time.sleep(0.3)  # the server is now reading the body
    time.sleep(0.3)  # and has seen the hang-up


@pytest.mark.parametrize("path", sorted(_BODIES))
def test_a_portal_retry_after_a_hang_up_mid_body_is_served(path: str) -> None:
    with PortalSimulator(build_portal_world(build_world(5))) as sim:
        token = httpx.post(f"{sim.url}/oauth/token", json={"client_id": "hub", "client_secret": "hub-secret"})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "Idempotency-Key": f"hang-up-{path}"}
        retry = _hang_up_then_retry(sim.url, path, headers, _BODIES[path])
    assert retry.status_code == 200, retry.text
    assert retry.json()["error_code"] != "409"


def test_a_postal_retry_after_a_hang_up_mid_body_is_served() -> None:
    order = {"OrderNumber": "H56.99-261122-0001", "OrderType": "NHAN_HO_SO", "CODAmount": 0}
    with VnpostSimulator() as sim:
        headers = {"Authorization": "Bearer vnpost-test-secret", "Idempotency-Key": "hang-up-order"}
        retry = _hang_up_then_retry(sim.url, "/api/v1/orders", headers, order)
    assert retry.status_code == 200, retry.text
    assert retry.json()["OrderNumber"] == order["OrderNumber"]


def _hang_up_then_retry(url: str, path: str, headers: dict[str, str], payload: dict[str, object]) -> httpx.Response:
    headers = {**headers, "Content-Type": "application/json"}
    body = json.dumps(payload).encode()
    _hang_up_mid_body(url, path, headers, body)
    return httpx.post(f"{url}{path}", content=body, headers=headers, timeout=5)
