"""What a sweep of lookups found: a verdict per run, and counts for the summary and metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from reaper.pipelines.model import RunRef, RunState, RunStatus, UnknownReason


@dataclass(frozen=True)
class LookupStats:
    """Counts of one sweep (:attr:`LookupResult.stats`) or of all sweeps so far
    (:attr:`RunLookup.totals`). Ready for Prometheus counters."""

    runs: int = 0
    """Distinct runs asked about."""
    requests: int = 0
    """HTTP requests sent (a throttled retry is a second request)."""
    not_modified: int = 0
    """Requests answered ``304``: served from the cache (free on GitHub)."""
    throttled: int = 0
    """Answers that were rate-limit refusals."""
    waited_seconds: float = 0.0
    """Time spent waiting for rate limits."""
    states: Mapping[RunState, int] = field(default_factory=dict)
    """Runs by verdict."""
    unknown_reasons: Mapping[UnknownReason, int] = field(default_factory=dict)
    """``UNKNOWN`` runs by reason."""

    @property
    def unknown(self) -> int:
        return self.states.get(RunState.UNKNOWN, 0)

    def __add__(self, other: LookupStats) -> LookupStats:
        return LookupStats(
            runs=self.runs + other.runs,
            requests=self.requests + other.requests,
            not_modified=self.not_modified + other.not_modified,
            throttled=self.throttled + other.throttled,
            waited_seconds=self.waited_seconds + other.waited_seconds,
            states=MappingProxyType(dict(Counter(self.states) + Counter(other.states))),
            unknown_reasons=MappingProxyType(
                dict(Counter(self.unknown_reasons) + Counter(other.unknown_reasons))
            ),
        )


@dataclass(frozen=True)
class LookupResult:
    """The verdict on every run asked about in one sweep, and the sweep's counts."""

    statuses: Mapping[RunRef, RunStatus]
    stats: LookupStats

    def __getitem__(self, ref: RunRef) -> RunStatus:
        return self.statuses[ref]
