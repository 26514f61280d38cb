"""The fake cluster's clock, and the API's two timestamp spellings.

Every timestamp the fake writes (``creationTimestamp``, ``deletionTimestamp``, condition
``lastTransitionTime``, table ages) comes from one :class:`Clock`, so a test that passes a
:class:`ManualClock` gets the same bytes on every run and can move time on with
:meth:`ManualClock.advance`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

# metav1.Time is RFC 3339 with whole seconds; metav1.MicroTime carries six fraction digits.
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Clock(Protocol):
    """Where the fake reads the time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = as_utc(start) if start is not None else datetime(2025, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: float | timedelta) -> datetime:
        """Move the clock forward by ``by`` (seconds or a timedelta); return the new time."""
        step = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if step < timedelta(0):
            raise ValueError(f"a clock cannot go backwards (advance by {step})")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (any direction)."""
        with self._lock:
            self._now = as_utc(when)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already. Pure."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """A ``metav1.Time``: RFC 3339 in UTC, whole seconds (``2025-01-01T00:00:00Z``). Pure."""
    return as_utc(value).strftime(_TIME_FORMAT)


def format_micro_time(value: datetime) -> str:
    """A ``metav1.MicroTime``: six fraction digits (``2025-01-01T00:00:00.000000Z``). Pure."""
    return as_utc(value).strftime(_MICRO_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp as clients send it (``Z`` or an offset). Pure.

    Raises ``ValueError`` for anything else.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed.astimezone(UTC)


def human_duration(age: timedelta) -> str:
    """An age as ``kubectl get`` prints it (apimachinery ``duration.HumanDuration``). Pure."""
    seconds = int(age.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"
