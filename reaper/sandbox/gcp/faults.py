"""What tests and the benchmark inject: error answers, failing operations, outages, latency.

Each injection is keyed by API method name; a pattern with ``*`` (``compute.*``) matches
several. Injections are consumed in the order they were made.
"""

from __future__ import annotations

import enum
import fnmatch
import threading
from dataclasses import dataclass


class Fault(enum.StrEnum):
    """An error answer the fake can give instead of serving a request."""

    RATE_LIMITED = "rate-limited"
    """HTTP 429 ``rateLimitExceeded`` / RESOURCE_EXHAUSTED: a per-minute quota ran out."""
    QUOTA_FORBIDDEN = "quota-forbidden"
    """HTTP 403 ``rateLimitExceeded``: the older per-100-seconds quota answer."""
    UNAVAILABLE = "unavailable"
    """HTTP 503 ``backendError`` / UNAVAILABLE: a transient backend failure."""
    PERMISSION_DENIED = "permission-denied"
    """HTTP 403 ``forbidden`` / PERMISSION_DENIED: the caller lacks a permission; not a
    rate limit, so retrying does not help."""
    UNPARSEABLE = "unparseable"
    """HTTP 200 whose body is not JSON (a proxy's HTML page, a reply cut short)."""
    DEEP_JSON = "deep-json"
    """HTTP 500 whose body is JSON nested far past Python's recursion limit."""


@dataclass
class _Pending:
    pattern: str
    remaining: int


@dataclass
class _ErrorInjection(_Pending):
    fault: Fault


@dataclass
class _Delay(_Pending):
    seconds: float


@dataclass
class _OperationFailure(_Pending):
    message: str
    code: str
    http_status: int


@dataclass(frozen=True)
class OperationFailure:
    """How an injected operation failure ends: its error code, message and HTTP status."""

    code: str
    message: str
    http_status: int


class Faults:
    """The injected faults and latency, safe to change while requests are in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[_ErrorInjection] = []
        self._operation_failures: list[_OperationFailure] = []
        self._delays: list[_Delay] = []
        self._unreachable_zones: set[tuple[str, str]] = set()
        self._missing_locations: set[tuple[str, str]] = set()
        self._latency = 0.0
        self._method_latency: dict[str, float] = {}

    def add_error(self, pattern: str, fault: Fault, times: int) -> None:
        with self._lock:
            self._errors.append(_ErrorInjection(pattern, times, fault))

    def take_error(self, method: str) -> Fault | None:
        """The fault to answer ``method`` with now, consuming one injection, or None."""
        with self._lock:
            for item in self._errors:
                if item.remaining > 0 and fnmatch.fnmatchcase(method, item.pattern):
                    item.remaining -= 1
                    return item.fault
            return None

    def add_delay(self, pattern: str, seconds: float, times: int) -> None:
        if seconds < 0:
            raise ValueError(f"delay must be >= 0, got {seconds}")
        with self._lock:
            self._delays.append(_Delay(pattern, times, seconds))

    def take_delay(self, method: str) -> float | None:
        """Seconds to hold this request of ``method`` before serving it and dropping its
        answer (the client has given up), consuming one injection; or None."""
        with self._lock:
            for item in self._delays:
                if item.remaining > 0 and fnmatch.fnmatchcase(method, item.pattern):
                    item.remaining -= 1
                    return item.seconds
            return None

    def add_operation_failure(
        self, pattern: str, message: str, code: str, http_status: int, times: int
    ) -> None:
        with self._lock:
            self._operation_failures.append(
                _OperationFailure(pattern, times, message, code, http_status)
            )

    def take_operation_failure(self, method: str) -> OperationFailure | None:
        """How the operation ``method`` is starting must end, consuming one injection."""
        with self._lock:
            for item in self._operation_failures:
                if item.remaining > 0 and fnmatch.fnmatchcase(method, item.pattern):
                    item.remaining -= 1
                    return OperationFailure(item.code, item.message, item.http_status)
            return None

    def set_zone_unreachable(self, project: str, zone: str, unreachable: bool) -> None:
        with self._lock:
            (self._unreachable_zones.add if unreachable else self._unreachable_zones.discard)(
                (project, zone)
            )

    def zone_unreachable(self, project: str, zone: str) -> bool:
        with self._lock:
            return (project, zone) in self._unreachable_zones

    def set_location_missing(self, project: str, location: str, missing: bool) -> None:
        with self._lock:
            (self._missing_locations.add if missing else self._missing_locations.discard)(
                (project, location)
            )

    def location_missing(self, project: str, location: str) -> bool:
        with self._lock:
            return (project, location) in self._missing_locations

    def set_latency(self, seconds: float, method: str | None) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds}")
        with self._lock:
            if method is None:
                self._latency = seconds
            else:
                self._method_latency[method] = seconds

    def latency(self, method: str) -> float:
        """Seconds to hold a request to ``method`` before answering it."""
        with self._lock:
            for pattern, seconds in self._method_latency.items():
                if fnmatch.fnmatchcase(method, pattern):
                    return seconds
            return self._latency

    def clear(self) -> None:
        """Drop every injection and all latency."""
        with self._lock:
            self._errors.clear()
            self._operation_failures.clear()
            self._delays.clear()
            self._unreachable_zones.clear()
            self._missing_locations.clear()
            self._latency = 0.0
            self._method_latency.clear()
