"""The rate-limit budget of one API and token, kept across sweeps. Thread-safe, clock-free.

Every request first takes one unit from the :class:`RateGate` of its API and token
(:meth:`RateGate.acquire`), and every answer settles it (:meth:`RateGate.settle`). Units are
taken before sending, so concurrent workers never send more requests than the last known
``remaining``; once it is 0, or a throttle was answered, nothing is sent until the window
resets or the ``retry-after`` has passed. While the budget is unknown (the first request,
the first after a reset) one request goes alone, as a probe, and the others wait for its
answer; a server whose answers carry no budget (rate limits switched off, as they are by
default on GitLab Self-Managed and GitHub Enterprise Server) is then asked without one.

The caller passes ``now`` (epoch seconds) in and decides whether to wait for the seconds
:meth:`RateGate.acquire` returns; only the wait for a probe blocks inside.
"""

from __future__ import annotations

import threading

from reaper.pipelines.wire import Budget, Throttle

PROBE_TIMEOUT = 30.0
"""How long to wait for a probe's answer before sending another probe."""
UNKNOWN_RESET_WAIT = 60.0
"""How long to hold off when the budget is spent but no reset time was given (GitHub: "wait
for at least one minute")."""


class RateGate:
    """The known state of one budget: remaining units, the window's reset, a throttle."""

    def __init__(self, *, free_not_modified: bool, probe_timeout: float = PROBE_TIMEOUT) -> None:
        self._free_not_modified = free_not_modified
        self._probe_timeout = probe_timeout
        self._lock = threading.Condition()
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._blocked_until = 0.0
        self._probing = False
        self._unmetered = False

    def acquire(self, now: float) -> float:
        """Take one unit and return 0.0, or take none and return the seconds to wait."""
        with self._lock:
            while True:
                if now < self._blocked_until:
                    return self._blocked_until - now
                if self._reset_at is not None and now >= self._reset_at:
                    # A new window: its budget is unknown until the next answer says.
                    self._remaining = self._reset_at = None
                if self._remaining is None:
                    if self._unmetered:
                        return 0.0
                    if not self._probing:
                        self._probing = True
                        return 0.0
                    if not self._lock.wait(self._probe_timeout):
                        self._probing = False  # the probe never came back: be the next one
                    continue
                if self._remaining <= 0:
                    if self._reset_at is None:
                        self._blocked_until = now + UNKNOWN_RESET_WAIT
                        self._remaining = None
                        return UNKNOWN_RESET_WAIT
                    return self._reset_at - now
                self._remaining -= 1
                return 0.0

    def settle(
        self,
        budget: Budget | None,
        throttle: Throttle | None,
        *,
        not_modified: bool,
        answered: bool = True,
    ) -> None:
        """Account for one answer, or for a request that got none (``answered=False``):
        give a 304's unit back where 304s are free, believe the answer's headers (within a
        window, the lower of its count and ours, since requests of ours may still be in
        flight), block until a throttle's end, and wake the requests waiting for a probe."""
        with self._lock:
            if not_modified and self._free_not_modified and self._remaining is not None:
                self._remaining += 1
            if budget is not None:
                self._unmetered = False
                same_window = budget.reset_at is not None and budget.reset_at == self._reset_at
                if same_window and self._remaining is not None:
                    self._remaining = min(self._remaining, budget.remaining)
                else:
                    self._remaining = budget.remaining
                    self._reset_at = budget.reset_at
            elif answered and self._remaining is None:
                self._unmetered = True
            if throttle is not None:
                self._blocked_until = max(self._blocked_until, throttle.until)
            self._probing = False
            self._lock.notify_all()

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"RateGate(remaining={self._remaining}, reset_at={self._reset_at}, "
                f"blocked_until={self._blocked_until}, unmetered={self._unmetered})"
            )
