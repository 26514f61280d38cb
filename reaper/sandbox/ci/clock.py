"""A manual clock that the fakes and the code under test can share."""

from __future__ import annotations

import threading
from datetime import UTC, datetime


class FakeClock:
    """Epoch seconds that move only when told to. Thread-safe.

    Call it for the time (it fits any ``clock: Callable[[], float]`` parameter); pass
    :meth:`sleep` wherever code would sleep, so a wait advances the time instead of taking it.
    Hand the same clock to a fake server and to the client, and both agree on when a
    rate-limit window resets.
    """

    def __init__(self, start: float | datetime = 1_767_225_600.0) -> None:
        """``start``: epoch seconds or an aware datetime; the default is 2026-01-01T00:00:00Z."""
        self._lock = threading.Lock()
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds`` (not backwards: negative values are refused)."""
        if seconds < 0:
            raise ValueError(f"a clock does not go backwards (asked for {seconds}s)")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Record a sleep and advance the time by it, without waiting."""
        with self._lock:
            self._sleeps.append(seconds)
            self._now += max(seconds, 0.0)

    @property
    def sleeps(self) -> tuple[float, ...]:
        """Every :meth:`sleep` so far, in order."""
        with self._lock:
            return tuple(self._sleeps)

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"
