"""How the one-stop client assembles a page: digitised-result lookups run side by side, a failed one
is asked again, and one that keeps failing ends the page just before its record, in feed order."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from connectors.onestop.client import OnestopUpstream
from connectors.onestop.mapping import ENRICHMENT_KEY
from hub.errors import UpstreamError


class ScriptedOnestop(OnestopUpstream):
    """The real client with its SOAP calls answered from a script (the feed and each lookup)."""

    def __init__(self, changes: list[dict[str, Any]], lookup: Any, parallel_calls: int = 8) -> None:
        super().__init__("http://127.0.0.1:9/", b"k" * 16, parallel_calls=parallel_calls)
        self.changes, self.lookup = changes, lookup

    def _call(self, operation: str, *args: Any) -> Any:
        if operation == "LayDanhSachThayDoi":
            after, limit = args
            items = [c for c in self.changes if c["MaThayDoi"] > after][:limit]
            return {"DanhSachThayDoi": {"ThayDoi": items}, "MaThayDoiCuoi": items[-1]["MaThayDoi"], "ConDuLieu": False}
        assert operation == "LayKetQuaSoHoa"
        return self.lookup(args[0])


def feed(kinds: str) -> list[dict[str, Any]]:
    """One change per letter: R a receipt, S a digitised result (its code is R<seq>), newest last."""
    return [
        {"MaThayDoi": seq, "LoaiThayDoi": "SO_HOA" if k == "S" else "TIEP_NHAN", "MaHoSo": f"H{seq}", "Ma": f"R{seq}"}
        for seq, k in enumerate(kinds, start=1)
    ]


def test_lookups_of_a_page_run_at_the_same_time() -> None:
    together = threading.Barrier(4, timeout=5)  # broken (and the page failed) unless 4 lookups overlap

    def lookup(code: str) -> dict[str, Any]:
        together.wait()
        return {"Ma": code}

    page = ScriptedOnestop(feed("RSSRSSR"), lookup).fetch(None, 100)
    assert [r.raw[ENRICHMENT_KEY] for r in page.records if ENRICHMENT_KEY in r.raw] == [
        {"Ma": "R2"},
        {"Ma": "R3"},
        {"Ma": "R5"},
        {"Ma": "R6"},
    ]
    assert [r.record_id for r in page.records] == [str(i) for i in range(1, 8)]
    assert page.next_cursor == "7"


def test_a_lookup_that_fails_once_is_asked_again_and_the_page_is_whole() -> None:
    failed: list[str] = []

    def lookup(code: str) -> dict[str, Any]:
        if code == "R3" and not failed:
            failed.append(code)
            raise UpstreamError("one-stop LayKetQuaSoHoa failed: HTTPError: 500")
        return {"Ma": code}

    page = ScriptedOnestop(feed("RSSR"), lookup).fetch(None, 100)
    assert failed == ["R3"]
    assert [r.raw.get(ENRICHMENT_KEY) for r in page.records] == [None, {"Ma": "R2"}, {"Ma": "R3"}, None]
    assert page.next_cursor == "4"


def test_a_lookup_that_keeps_failing_ends_the_page_before_its_record() -> None:
    def lookup(code: str) -> dict[str, Any]:
        if code == "R5":
            raise UpstreamError("one-stop LayKetQuaSoHoa failed: ReadTimeout")
        return {"Ma": code}

    upstream = ScriptedOnestop(feed("RSRRSSR"), lookup)
    page = upstream.fetch(None, 100)
    assert [r.record_id for r in page.records] == ["1", "2", "3", "4"]
    assert page.next_cursor == "4" and page.more
    # R6's lookup succeeded but is not kept past the failure; asking again from the cursor meets R5 first.
    with pytest.raises(UpstreamError, match="ReadTimeout"):
        upstream.fetch("4", 100)


def test_a_missing_result_is_recorded_as_none_and_one_call_at_a_time_still_works() -> None:
    def lookup(code: str) -> dict[str, Any] | None:
        if code == "R2":
            raise UpstreamError("one-stop refused LayKetQuaSoHoa: not found")
        return {"Ma": code}

    page = ScriptedOnestop(feed("RSS"), lookup, parallel_calls=1).fetch(None, 100)
    assert [r.raw[ENRICHMENT_KEY] for r in page.records[1:]] == [None, {"Ma": "R3"}]


def test_parallel_calls_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OnestopUpstream("http://127.0.0.1:9/", b"k" * 16, parallel_calls=0)
