"""The one-stop client against a hostile server on loopback: replies it must refuse, not parse."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.onestop.client import OnestopUpstream
from hub.errors import UpstreamError

DTD_REPLY = b"""<?xml version="1.0"?>
<!DOCTYPE lol [<!ENTITY lol "lol">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol;</soap:Body></soap:Envelope>"""


@pytest.fixture
def hostile() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(DTD_REPLY)))
            self.end_headers()
            self.wfile.write(DTD_REPLY)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_a_reply_carrying_a_dtd_is_refused(hostile: str) -> None:
    upstream = OnestopUpstream(hostile, b"k" * 16, timeout_s=5)
    with pytest.raises(UpstreamError, match="DTDForbidden"):
        upstream.fetch(None, 10)
