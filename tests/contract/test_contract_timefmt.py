"""The one timestamp format: every formatter agrees, string order is time order, the strict check is strict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.timefmt import (
    ISO_MS_Z_PATTERN,
    hour_partition,
    hour_partition_of_epoch,
    is_iso_ms_z,
    iso,
    iso_from_epoch,
    iso_from_millis,
    parse_iso,
)

MOMENTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC))


def test_the_formatters_write_the_contracts_example() -> None:
    moment = datetime(2026, 11, 23, 0, 31, 1, 123456, tzinfo=UTC)
    assert iso(moment) == "2026-11-23T00:31:01.123Z"  # truncated to the millisecond
    assert iso_from_epoch(moment.timestamp()) == "2026-11-23T00:31:01.123Z"
    assert iso_from_epoch(0.0) == iso_from_millis(0) == "1970-01-01T00:00:00.000Z"
    assert iso_from_epoch(1.9996) == "1970-01-01T00:00:02.000Z"  # epoch seconds round to the nearest millisecond


@given(MOMENTS)
def test_every_timestamp_matches_the_pattern_and_round_trips(moment: datetime) -> None:
    text = iso(moment)
    assert ISO_MS_Z_PATTERN.fullmatch(text) and is_iso_ms_z(text)
    assert parse_iso(text) == moment - timedelta(microseconds=moment.microsecond % 1000)
    assert iso_from_millis(int(parse_iso(text).timestamp() * 1000 + 0.5)) == text


@given(MOMENTS, MOMENTS)
def test_string_order_is_time_order(a: datetime, b: datetime) -> None:
    a, b = a.replace(microsecond=a.microsecond // 1000 * 1000), b.replace(microsecond=b.microsecond // 1000 * 1000)
    assert (iso(a) < iso(b)) == (a < b)


def test_a_timezone_is_converted_and_a_naive_time_is_utc() -> None:
    plus_two = datetime(2026, 1, 1, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    assert iso(plus_two) == "2026-01-01T02:00:00.000Z"
    assert iso(datetime(2026, 1, 1, 2, 0)) == "2026-01-01T02:00:00.000Z"
    assert parse_iso("2026-01-01T02:00:00") == datetime(2026, 1, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30T00:00:00.000Z",
        "2026-01-01T25:00:00.000Z",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00.000+00:00",
        "2026-01-01 00:00:00.000Z",
        1700000000,
        None,
    ],
)
def test_the_strict_check_refuses_what_is_not_exactly_the_format(text: object) -> None:
    assert not is_iso_ms_z(text)


def test_a_bad_timestamp_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'yesterday'"):
        parse_iso("yesterday")


def test_hour_partitions_are_firehoses_utc_folders() -> None:
    moment = datetime(2026, 11, 23, 0, 31, tzinfo=UTC)
    assert hour_partition(moment) == hour_partition_of_epoch(moment.timestamp()) == "2026/11/23/00"
