"""Counts of the requests the fake served, per API method, for tests and the benchmark.

Filtered list calls are also counted on their own: Compute Engine bills a list with a
``filter`` against a separate "filtered list cost overhead" quota, so a provider that
filters server-side should be seen to do so.
"""

from __future__ import annotations

import threading
from collections import Counter


class RequestStats:
    """Thread-safe request counters, keyed by method name such as ``compute.instances.get``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._filtered: Counter[str] = Counter()

    def record(self, method: str, *, filtered: bool = False) -> None:
        """Count one request to ``method``, and once more as filtered if it was."""
        with self._lock:
            self._calls[method] += 1
            if filtered:
                self._filtered[method] += 1

    def count(self, method: str) -> int:
        """Requests to ``method`` so far, filtered or not (injected failures included)."""
        with self._lock:
            return self._calls[method]

    def filtered(self, method: str) -> int:
        """Requests to ``method`` that carried a ``filter`` parameter."""
        with self._lock:
            return self._filtered[method]

    def counts(self) -> dict[str, int]:
        """A snapshot of every method's count."""
        with self._lock:
            return dict(self._calls)

    def filtered_counts(self) -> dict[str, int]:
        """A snapshot of every method's filtered-call count."""
        with self._lock:
            return dict(self._filtered)

    def total(self) -> int:
        """Every request served so far."""
        with self._lock:
            return sum(self._calls.values())

    def reset(self) -> None:
        """Forget every count, e.g. after seeding and before the code under test runs."""
        with self._lock:
            self._calls.clear()
            self._filtered.clear()
