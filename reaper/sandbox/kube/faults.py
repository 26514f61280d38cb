"""What the tests can do to the fake's traffic: count it, slow it, break it.

Requests are keyed like the API server's own ``RequestInfo``: a verb (``get``, ``list``,
``create``, ``update``, ``patch``, ``delete``, ``deletecollection``, ``watch``), a resource
and a subresource. Non-resource requests (``/version``, ``/api``, discovery, OpenAPI) count
under verb ``get`` and their path. All state is behind locks: the server answers from many
threads.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class RequestKey:
    """How requests are counted."""

    verb: str
    """``get``, ``list``, ``create``, ``update``, ``patch``, ``delete``, ``deletecollection``,
    ``watch``."""
    resource: str
    """The plural resource (``namespaces``), or the path of a non-resource request."""
    subresource: str = ""
    """``scale``, ``status``, ``finalize``, or empty."""


@dataclass(frozen=True)
class RequestInfo:
    """One parsed request, as the fault rules and the log see it."""

    method: str
    """The HTTP method."""
    path: str
    """The URL path."""
    verb: str
    """The API verb (see :class:`RequestKey`)."""
    resource: str = ""
    """The plural resource, empty for non-resource paths."""
    subresource: str = ""
    """The subresource, if any."""
    namespace: str = ""
    """The namespace in the URL, if any."""
    name: str = ""
    """The object name in the URL, if any."""

    @property
    def key(self) -> RequestKey:
        return RequestKey(self.verb, self.resource or self.path, self.subresource)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake answered (or refused to)."""

    info: RequestInfo
    """What was asked."""
    query: str
    """The raw query string."""
    status: int
    """The HTTP status answered; 0 when the connection was dropped."""
    answered: float = 0.0
    """``time.monotonic()`` when the fake answered (after any latency rule's wait): when a
    write took effect."""


class FaultAction(StrEnum):
    """What a matching fault does."""

    RESPOND = "respond"
    """Answer with the rule's HTTP status and a matching ``Status`` body."""
    DROP = "drop"
    """Close the connection without answering."""


@dataclass
class Fault:
    """A rule: the next ``times`` matching requests fail (``times`` None: all of them)."""

    status: int = 503
    """The HTTP status to answer with."""
    times: int | None = 1
    """How many requests it still applies to; None for no limit."""
    verb: str | None = None
    """Only requests with this verb (None: any)."""
    resource: str | None = None
    """Only this resource (or non-resource path); None: any."""
    subresource: str | None = None
    """Only this subresource ('' for none); None: any."""
    namespace: str | None = None
    """Only this namespace; None: any."""
    name: str | None = None
    """Only this object name; None: any."""
    message: str = ""
    """The Status message; empty for the server's usual one."""
    retry_after: int | None = None
    """Seconds for a ``Retry-After`` header and ``details.retryAfterSeconds``."""
    action: FaultAction = FaultAction.RESPOND
    """Respond with ``status``, or drop the connection."""
    hits: int = field(default=0, init=False)
    """How many requests this rule has failed so far."""

    def matches(self, info: RequestInfo) -> bool:
        wanted = (
            (self.verb, info.verb),
            (self.resource, info.resource or info.path),
            (self.subresource, info.subresource),
            (self.namespace, info.namespace),
            (self.name, info.name),
        )
        return all(rule is None or rule == actual for rule, actual in wanted)


@dataclass
class Latency:
    """Wait ``seconds`` before answering matching requests (``times`` None: always)."""

    seconds: float
    """How long to wait."""
    times: int | None = None
    """How many requests it still applies to; None for no limit."""
    verb: str | None = None
    """Only requests with this verb."""
    resource: str | None = None
    """Only this resource (or non-resource path)."""

    def matches(self, info: RequestInfo) -> bool:
        return (self.verb is None or self.verb == info.verb) and (
            self.resource is None or self.resource == (info.resource or info.path)
        )


class Traffic:
    """The request log, the fault rules and the latency rules of one fake cluster."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[RecordedRequest] = []
        self._counts: Counter[RequestKey] = Counter()
        self._faults: list[Fault] = []
        self._latencies: list[Latency] = []
        self._broken_groups: set[str] = set()

    # -- log -----------------------------------------------------------------------------------

    def record(self, info: RequestInfo, query: str, status: int) -> None:
        with self._lock:
            self._log.append(RecordedRequest(info, query, status, time.monotonic()))
            self._counts[info.key] += 1

    def count(self, verb: str, resource: str, subresource: str = "") -> int:
        with self._lock:
            return self._counts[RequestKey(verb, resource, subresource)]

    def counts(self) -> dict[RequestKey, int]:
        with self._lock:
            return dict(self._counts)

    def log(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._counts.clear()

    # -- faults ----------------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
            return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._latencies.clear()

    def take_fault(self, info: RequestInfo) -> Fault | None:
        """The first live rule matching ``info``, with one use consumed."""
        with self._lock:
            for fault in self._faults:
                if (fault.times is None or fault.times > 0) and fault.matches(info):
                    if fault.times is not None:
                        fault.times -= 1
                    fault.hits += 1
                    return fault
            return None

    def add_latency(self, latency: Latency) -> Latency:
        with self._lock:
            self._latencies.append(latency)
            return latency

    def take_latency(self, info: RequestInfo) -> float:
        """Seconds to wait before answering ``info`` (the sum of the live matching rules)."""
        with self._lock:
            total = 0.0
            for latency in self._latencies:
                if (latency.times is None or latency.times > 0) and latency.matches(info):
                    if latency.times is not None:
                        latency.times -= 1
                    total += latency.seconds
            return total

    # -- aggregated APIs that do not answer ------------------------------------------------------

    def break_group(self, group_version: str) -> None:
        with self._lock:
            self._broken_groups.add(group_version)

    def repair_group(self, group_version: str | None = None) -> None:
        with self._lock:
            if group_version is None:
                self._broken_groups.clear()
            else:
                self._broken_groups.discard(group_version)

    def broken_groups(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._broken_groups)
