"""Pure parsing of the durations and timestamps found in config files and tags.

Tag values must also be valid GCP label values (lowercase ``[a-z0-9_-]``, at most 63
characters), so durations use unit letters only (``90m``, ``6h``, ``3d``, ``1d12h``) and
expiry timestamps may be epoch seconds as well as RFC 3339.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

DURATION_HINT = "e.g. 90m, 6h, 3d"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:[0-9]+[smhdw])+$")
_PART = re.compile(r"([0-9]+)([smhdw])")
_EPOCH = re.compile(r"^[0-9]{9,11}$")
# The longest duration reaper accepts: a decade. Bigger numbers are typos, and would
# overflow datetime arithmetic.
MAX_DURATION = timedelta(days=3660)


def parse_duration(text: str) -> timedelta:
    """Parse ``90m``, ``6h``, ``3d``, ``2w`` or combinations such as ``1d12h``. Pure.

    Raises ValueError with a message fit for a user. Zero, negative and unitless values
    are rejected: a TTL of nothing is always a mistake.
    """
    value = text.strip().lower()
    if value.startswith("-"):
        raise ValueError(f"{text!r} is negative; durations must be positive ({DURATION_HINT})")
    if not _DURATION.fullmatch(value):
        raise ValueError(f"{text!r} is not a duration ({DURATION_HINT})")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a positive duration ({DURATION_HINT})")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than the maximum of {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)


def format_duration(duration: timedelta) -> str:
    """Render a duration the way ``parse_duration`` reads it (``1d12h``). Pure."""
    seconds = int(duration.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


def parse_timestamp(text: str) -> datetime:
    """Parse an expiry: epoch seconds (``1767225600``) or RFC 3339 with an offset. Pure.

    Naive timestamps are rejected rather than guessed: an hour's error in a deadline
    decides whether something is deleted.
    """
    value = text.strip()
    if _EPOCH.fullmatch(value):
        return datetime.fromtimestamp(int(value), tz=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a timestamp (epoch seconds or RFC 3339 with offset)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset (add Z or +00:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is a timestamp outside the supported range") from None


def parse_api_time(value: object) -> datetime | None:
    """A timestamp as cloud APIs write them (RFC 3339: ``2024-01-02T03:04:05.678-08:00``,
    ``…Z``), in UTC; None when absent, not a string, unreadable, or without an offset (a
    time that cannot be placed is unknown, never guessed). Pure."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None
