"""Parsing of the durations and timestamps found in config files and reaper tags."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reaper.durations import MAX_DURATION, format_duration, parse_duration, parse_timestamp

# --- parse_duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90m", timedelta(minutes=90), id="minutes"),
        pytest.param("6h", timedelta(hours=6), id="hours"),
        pytest.param("3d", timedelta(days=3), id="days"),
        pytest.param("2w", timedelta(weeks=2), id="weeks"),
        pytest.param("45s", timedelta(seconds=45), id="seconds"),
        pytest.param("1d12h", timedelta(days=1, hours=12), id="combined-1d12h"),
        pytest.param(
            "1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5), id="all-units"
        ),
        pytest.param("6H", timedelta(hours=6), id="uppercase"),
        pytest.param("1D12H", timedelta(days=1, hours=12), id="uppercase-combined"),
        pytest.param("  6h\n", timedelta(hours=6), id="surrounding-whitespace"),
        pytest.param("3660d", MAX_DURATION, id="exactly-the-maximum"),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "is not a duration", id="empty"),
        pytest.param("   ", "is not a duration", id="blank"),
        pytest.param("3 dayz", "is not a duration (e.g. 90m, 6h, 3d)", id="3-dayz"),
        pytest.param("3days", "is not a duration", id="unit-word"),
        pytest.param("1d 12h", "is not a duration", id="inner-space"),
        pytest.param("1.5h", "is not a duration", id="fraction"),
        pytest.param("10", "is not a duration", id="no-unit"),
        pytest.param("h", "is not a duration", id="no-number"),
        pytest.param("-1h", "is negative", id="negative"),
        pytest.param("0h", "is not a positive duration", id="zero"),
        pytest.param("0d0h", "is not a positive duration", id="zero-combined"),
        pytest.param("3661d", "longer than the maximum of 3660d", id="over-max-days"),
        pytest.param("523w", "longer than the maximum of 3660d", id="over-max-weeks"),
        pytest.param("3660d1s", "longer than the maximum of 3660d", id="max-plus-one-second"),
    ],
)
def test_parse_duration_rejects_with_a_user_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        parse_duration(text)
    assert repr(text) in str(excinfo.value), "the message quotes what the user wrote"


@pytest.mark.parametrize(
    "text", ["99999999999999999w", "1000000000d"], ids=["17-digit-weeks", "1e9-days"]
)
def test_parse_duration_rejects_absurdly_large_numbers_with_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="longer than the maximum"):
        parse_duration(text)


@given(
    st.timedeltas(min_value=timedelta(seconds=1), max_value=MAX_DURATION).map(
        lambda d: timedelta(seconds=int(d.total_seconds()))
    )
)
def test_format_duration_round_trips_through_parse_duration(duration: timedelta) -> None:
    text = format_duration(duration)
    assert parse_duration(text) == duration
    assert text == text.lower()
    assert " " not in text


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        pytest.param(timedelta(days=1, hours=12), "1d12h", id="1d12h"),
        pytest.param(timedelta(minutes=90), "1h30m", id="90m-normalised"),
        pytest.param(timedelta(weeks=2), "14d", id="weeks-as-days"),
        pytest.param(timedelta(0), "0s", id="zero"),
    ],
)
def test_format_duration_renders(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


# --- parse_timestamp --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("1767225600", datetime(2026, 1, 1, tzinfo=UTC), id="epoch-seconds"),
        pytest.param(" 1767225600 ", datetime(2026, 1, 1, tzinfo=UTC), id="epoch-with-whitespace"),
        pytest.param("2026-12-01T18:00:00Z", datetime(2026, 12, 1, 18, tzinfo=UTC), id="rfc3339-Z"),
        pytest.param(
            "2026-12-01T18:00:00z", datetime(2026, 12, 1, 18, tzinfo=UTC), id="rfc3339-lower-z"
        ),
        pytest.param(
            "2026-12-01T18:00:00+00:00",
            datetime(2026, 12, 1, 18, tzinfo=UTC),
            id="rfc3339-utc-offset",
        ),
        pytest.param(
            "2026-12-01T20:00:00+02:00", datetime(2026, 12, 1, 18, tzinfo=UTC), id="rfc3339-plus-2h"
        ),
        pytest.param(
            "2026-12-01T13:30:00-04:30",
            datetime(2026, 12, 1, 18, tzinfo=UTC),
            id="rfc3339-minus-4h30",
        ),
        pytest.param(
            "2026-12-01T18:00:00.250Z",
            datetime(2026, 12, 1, 18, 0, 0, 250000, tzinfo=UTC),
            id="rfc3339-fraction",
        ),
    ],
)
def test_parse_timestamp_accepts(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0), "always returned in UTC"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("2026-12-01T18:00:00", "has no UTC offset", id="naive-datetime"),
        pytest.param("2026-12-01", "has no UTC offset", id="naive-date"),
        pytest.param("", "is not a timestamp", id="empty"),
        pytest.param("next-tuesday", "is not a timestamp", id="words"),
        pytest.param("12345678", "is not a timestamp", id="epoch-too-short"),
        pytest.param("-1767225600", "is not a timestamp", id="negative-epoch"),
        pytest.param("2026-13-01T00:00:00Z", "is not a timestamp", id="month-13"),
        pytest.param("2026-12-01T18:00:00ZZ", "is not a timestamp", id="double-Z"),
    ],
)
def test_parse_timestamp_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_timestamp(text)


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"],
    ids=["year-1-east-of-utc", "year-9999-west-of-utc"],
)
def test_parse_timestamp_rejects_out_of_range_with_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(text)


@given(
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    )
)
def test_parse_timestamp_reads_isoformat_as_the_same_instant(moment: datetime) -> None:
    assert parse_timestamp(moment.isoformat()) == moment
