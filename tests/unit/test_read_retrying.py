"""Reads that reconciliation depends on are retried on upstream errors, and give up in the end."""

from __future__ import annotations

import pytest

from connectors.common.json_api import read_retrying
from hub.errors import MappingError, UpstreamError


def test_a_read_is_retried_until_it_succeeds_or_the_attempts_run_out() -> None:
    calls: list[int] = []

    def flaky(page: int, *, fail: int) -> str:
        calls.append(page)
        if len(calls) <= fail:
            raise UpstreamError("HTTP 500")
        return f"page {page}"

    assert read_retrying(flaky, 3, fail=2) == "page 3" and calls == [3, 3, 3]
    calls.clear()
    with pytest.raises(UpstreamError):
        read_retrying(flaky, 1, fail=99, attempts=2)
    assert calls == [1, 1]


def test_other_errors_are_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise MappingError("not a page")

    with pytest.raises(MappingError):
        read_retrying(broken)
    assert calls == [1]
