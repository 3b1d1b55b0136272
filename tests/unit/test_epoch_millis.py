"""Epoch milliseconds and UTC datetimes convert both ways exactly, over every year datetime holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.epoch_millis import EPOCH, ms, utc_of_ms

_MILLIS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999000)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
)


@given(_MILLIS)
def test_a_millisecond_time_survives_the_round_trip(moment: datetime) -> None:
    value = ms(moment)
    assert value == (moment - EPOCH) // timedelta(milliseconds=1)
    assert utc_of_ms(value) == moment and utc_of_ms(value).tzinfo is UTC


@given(st.integers(-(4 * 10**12) + 1, 4 * 10**12 - 1))
def test_the_fast_path_is_exact(value: int) -> None:
    assert utc_of_ms(value) == EPOCH + timedelta(milliseconds=value)


def test_beyond_the_year_9999_is_an_overflow() -> None:
    with pytest.raises(OverflowError):
        utc_of_ms(ms(datetime(9999, 12, 31, tzinfo=UTC)) + 86_400_000)
