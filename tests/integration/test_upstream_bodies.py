"""Answers from external systems are read up to a byte cap, counted after decompression: a small
gzip body that inflates to 150 MB is refused, not parsed (JSON connectors and the SOAP client)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.dvcqg.client import DvcqgClient
from connectors.onestop.client import OnestopUpstream
from hub.errors import UpstreamError

INFLATED = 150 * 1024 * 1024
BOMB = gzip.compress(b'{"data": "' + b"0" * INFLATED + b'"}', compresslevel=9)


@pytest.fixture(scope="module")
def bomb_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_a_json_answer_past_the_cap_is_refused_before_it_is_parsed(bomb_server: str) -> None:
    assert len(BOMB) < 200_000, "small on the wire"
    client = DvcqgClient(bomb_server, "hub", "secret", timeout_s=10, max_bytes=1024 * 1024)
    with pytest.raises(UpstreamError, match=r"answered more than 1048576 bytes"):
        client.api.call("POST", "/oauth/token", json={})


def test_a_soap_answer_past_the_cap_is_refused_before_it_is_parsed(bomb_server: str) -> None:
    upstream = OnestopUpstream(bomb_server, b"k" * 16, timeout_s=10, max_bytes=1024 * 1024)
    with pytest.raises(UpstreamError, match=r"answered more than 1048576 bytes"):
        upstream.fetch(None, 10)
