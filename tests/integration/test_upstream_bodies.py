"""Answers from external systems are read up to a byte cap, counted after decompression: a small
gzip body that inflates to 150 MB is refused, not parsed (JSON connectors and the SOAP client)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest

from connectors.dvcqg.client import DvcqgClient
from connectors.onestop.client import OnestopUpstream
from hub.errors import UpstreamError
from tests.support.http_server import QuietHandler, serving

INFLATED = 150 * 1024 * 1024
BOMB = gzip.compress(b'{"data": "' + b"0" * INFLATED + b'"}', compresslevel=9)


@pytest.fixture(scope="module")
def bomb_server() -> Iterator[str]:
    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802  # http.server calls it by this name
            self.answer(200, BOMB, {"Content-Type": "application/json", "Content-Encoding": "gzip"})

    with serving(Handler) as url:
        yield url + "/"


def test_a_json_answer_past_the_cap_is_refused_before_it_is_parsed(bomb_server: str) -> None:
    assert len(BOMB) < 200_000, "small on the wire"
    client = DvcqgClient(bomb_server, "hub", "secret", timeout_s=10, max_bytes=1024 * 1024)
    with pytest.raises(UpstreamError, match=r"answered more than 1048576 bytes"):
        client.api.call("POST", "/oauth/token", json={})


def test_a_soap_answer_past_the_cap_is_refused_before_it_is_parsed(bomb_server: str) -> None:
    upstream = OnestopUpstream(bomb_server, b"k" * 16, timeout_s=10, max_bytes=1024 * 1024)
    with pytest.raises(UpstreamError, match=r"answered more than 1048576 bytes"):
        upstream.fetch(None, 10)
