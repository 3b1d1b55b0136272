"""The HTTP edges under abuse. Against a black-hole broker on loopback (it accepts connections and never
answers, as a broker behind a dead network path does): /healthz cannot be used to make the API probe,
the docs are off outside demo mode, and 503 answers do not describe the hub's insides. A client that
trickles a body is cut off."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.api.app import build_api
from hub.api.callbacks import make_callback_app
from hub.settings import Settings
from simulators.local.http import BackgroundServer

VIEWER = "viewer-9f2c7d1e4b6a8c03"


class BlackHole:
    """A TCP listener that counts the connections it accepts and answers none of them."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def _settings(tmp_path: Path, hole: BlackHole, **extra: object) -> Settings:
    return Settings(
        demo=False,
        kafka_bootstrap=f"127.0.0.1:{hole.port}",
        kafka_bootstrap_timeout_ms=2000,
        kafka_request_timeout_ms=2000,
        database_url=f"sqlite:///{tmp_path}/read.sqlite3",
        api_keys=f"{VIEWER}=viewer",
    ).model_copy(update=extra)


def test_healthz_probes_the_broker_once_however_many_call_it(tmp_path: Path, black_hole: BlackHole) -> None:
    client = TestClient(build_api(_settings(tmp_path, black_hole, health_cache_s=60)))
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: client.get("/healthz"), range(40)))
    assert {a.json()["database"] for a in answers} == {"ok"}, "the read store answers: the API is alive"
    assert all(a.status_code == 200 for a in answers)
    # Probing per call opened a consumer (a connection to the broker) for each of the 40 calls.
    assert black_hole.accepted <= 3, f"{black_hole.accepted} broker connections for 40 health checks"


def test_docs_are_off_outside_demo_mode_unless_asked_for(tmp_path: Path, black_hole: BlackHole) -> None:
    closed = TestClient(build_api(_settings(tmp_path, black_hole)))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert closed.get(path).status_code == 404, path
    opened = TestClient(build_api(_settings(tmp_path, black_hole, api_docs=True)))
    assert opened.get("/openapi.json").status_code == 200 and opened.get("/docs").status_code == 200


def test_a_503_does_not_tell_the_caller_where_the_broker_is(tmp_path: Path, black_hole: BlackHole) -> None:
    client = TestClient(build_api(_settings(tmp_path, black_hole)))
    answer = client.get("/api/v1/dead-letters", headers={"X-API-Key": VIEWER})
    assert answer.status_code == 503
    text = answer.text
    assert str(black_hole.port) not in text and "127.0.0.1" not in text and "Kafka" not in text, text
    assert "reference" in answer.json()["detail"]


def test_a_body_that_trickles_in_is_cut_off(tmp_path: Path) -> None:
    """A slow-body client (headers promise 100 bytes, 10 come, then nothing) gets 408, not a held socket."""
    app = make_callback_app(max_bytes=1024, read_timeout_s=1.0)
    with BackgroundServer(app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
        head = b"POST /callbacks/paygov/ipn HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        conn.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"MaLoi":"')
        answer = conn.recv(4096)  # without the deadline this waits until the socket's own timeout
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
