"""A run's rate counts the time up to its last batch, not the idle wait after it."""

from __future__ import annotations

import pytest

from hub.runtime.projection_runner import BatchResult, RunTotals


def test_rate_runs_to_the_end_of_the_last_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]  # RunTotals.started defaults to the real clock: given here
    monkeypatch.setattr("hub.runtime.projection_runner.time.monotonic", lambda: clock[0])
    totals = RunTotals(started=100.0)
    assert totals.rate() == 0.0 and totals.last_batch_at is None  # nothing applied yet
    clock[0] = 102.0
    totals.add(BatchResult(records=3000, applied=3000))
    clock[0] = 104.0
    totals.add(BatchResult(records=1000, applied=900, skipped=100))
    clock[0] = 110.0  # six idle seconds before the run ends: not counted
    assert totals.last_batch_at == 104.0
    assert totals.rate() == pytest.approx(4000 / 4.0)
    assert (totals.records, totals.applied, totals.skipped, totals.batches) == (4000, 3900, 100, 2)
