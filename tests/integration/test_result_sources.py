"""The results sync fetches a digitised file only from an allowed host, never follows a redirect, and
stops at the size the one-stop declared: an upstream cannot point the hub at its internal network or
feed it more than it said."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.dvcqg.client import DvcqgClient, PortalError
from connectors.dvcqg.results.sync import ResultsSync, ResultWork
from hub.store.sql_store import make_engine
from tests.support.fakes import RecordingLog
from tests.support.http_server import QuietHandler, serving

FILE = b"%PDF-1.7 giay chung nhan" * 40


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802  # http.server calls it by this name
            if self.path == "/elsewhere":
                self.answer(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
            else:
                self.answer(200, FILE)

    with serving(Handler) as url:
        yield url


def _sync(tmp_path: Path, hosts: frozenset[str]) -> ResultsSync:
    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    client = DvcqgClient("http://127.0.0.1:9/", "hub", "unused")
    return ResultsSync(client, engine, RecordingLog(), None, source_hosts=hosts)  # type: ignore[arg-type]


def _work(uri: str, size: int | None = len(FILE)) -> ResultWork:
    row: dict[str, Any] = {"source_uri": uri, "source_sha256": hashlib.sha256(FILE).hexdigest(), "source_size": size}
    return ResultWork(row, {})


def test_an_allowed_source_is_read_whole(source: str, tmp_path: Path) -> None:
    assert b"".join(_sync(tmp_path, frozenset({"127.0.0.1"}))._chunks(_work(f"{source}/file"))) == FILE


def test_a_host_not_allowed_is_never_fetched(source: str, tmp_path: Path) -> None:
    with pytest.raises(PortalError, match="not on an allowed source host") as found:
        list(_sync(tmp_path, frozenset({"motcua.example.gov.vn"}))._chunks(_work(f"{source}/file")))
    assert not found.value.retryable
    with pytest.raises(PortalError, match="not on an allowed source host"):
        list(_sync(tmp_path, frozenset({"127.0.0.1"}))._chunks(_work("file:///etc/passwd")))


def test_a_redirect_is_not_followed(source: str, tmp_path: Path) -> None:
    with pytest.raises(PortalError, match="HTTP 302"):
        list(_sync(tmp_path, frozenset({"127.0.0.1"}))._chunks(_work(f"{source}/elsewhere")))


def test_a_file_longer_than_declared_is_cut_off(source: str, tmp_path: Path) -> None:
    with pytest.raises(PortalError, match="longer than the 100 bytes"):
        list(_sync(tmp_path, frozenset({"127.0.0.1"}))._chunks(_work(f"{source}/file", size=100)))
