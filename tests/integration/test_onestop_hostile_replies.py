"""The one-stop client against a hostile server on loopback: replies it must refuse, not parse."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.onestop.client import OnestopUpstream
from hub.errors import UpstreamError
from tests.support.http_server import QuietHandler, serving

DTD_REPLY = b"""<?xml version="1.0"?>
<!DOCTYPE lol [<!ENTITY lol "lol">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol;</soap:Body></soap:Envelope>"""


@pytest.fixture
def hostile() -> Iterator[str]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802  # http.server calls it by this name
            self.answer(200, DTD_REPLY, {"Content-Type": "text/xml; charset=utf-8"})

    with serving(Handler) as url:
        yield url + "/"


def test_a_reply_carrying_a_dtd_is_refused(hostile: str) -> None:
    upstream = OnestopUpstream(hostile, b"k" * 16, timeout_s=5)
    with pytest.raises(UpstreamError, match="DTDForbidden"):
        upstream.fetch(None, 10)
