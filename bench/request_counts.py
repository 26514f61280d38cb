"""Counting requests by operation: the proxy's counts, with REST APIs attributed.

The proxy reads the operation of query APIs (EC2, STS) from the request itself, but of a
REST API such as EKS it only sees the HTTP method (``GET``, ``DELETE``). Those rows are
attributed to operations from botocore's ``before-send`` event, counted on the session
every client of the sweep is made from, and checked against the proxy's per-method
totals.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import boto3

from bench.minimum import OpKey

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"})


class OperationCounter:
    """Counts every request sent by clients of a session, by (service, operation).

    Register before the session makes its first client: botocore copies the session's
    handlers into each client it creates. Counts only while ``active``.
    """

    def __init__(self, session: boto3.Session) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[OpKey] = Counter()
        self._sends: list[tuple[float, OpKey]] = []
        self.active = False
        session.events.register("before-send", self._on_send)

    def _on_send(self, event_name: str, **kwargs: object) -> None:
        # Must return None: botocore takes any other value for the HTTP response.
        if not self.active:
            return
        _, service, operation = event_name.split(".", 2)
        now = time.perf_counter()
        with self._lock:
            self._counts[(service, operation)] += 1
            self._sends.append((now, (service, operation)))

    def start(self) -> None:
        with self._lock:
            self._counts.clear()
            self._sends.clear()
        self.active = True

    def sends(self) -> list[tuple[float, OpKey]]:
        """When each request was sent (``time.perf_counter``), in order."""
        with self._lock:
            return sorted(self._sends)

    def stop(self) -> Counter[OpKey]:
        self.active = False
        with self._lock:
            return Counter(self._counts)


def by_operation(counts: Mapping[tuple[str, str, str], int]) -> Counter[OpKey]:
    """Proxy counts by (service, region, operation) -> by (service, operation)."""
    out: Counter[OpKey] = Counter()
    for (service, _region, operation), n in counts.items():
        out[(service, operation)] += n
    return out


def http_method(session: boto3.Session, op: OpKey) -> str:
    """The HTTP method of a REST operation, from botocore's service model."""
    model = session._session.get_service_model(op[0])
    return str(model.operation_model(op[1]).http["method"])


def attribute(
    wire: Counter[OpKey], sent: Counter[OpKey], session: boto3.Session
) -> tuple[Counter[OpKey], list[str]]:
    """The proxy's counts with HTTP-method rows replaced by the operations behind them.

    Returns the counts and the disagreements found between the two sources (none when
    every request the clients sent reached the proxy and nothing else did).
    """
    out: Counter[OpKey] = Counter()
    problems: list[str] = []
    rest_services = {service for service, op in wire if op in HTTP_METHODS}
    for op, n in wire.items():
        if op[0] not in rest_services:
            out[op] += n
            if sent.get(op, 0) != n:
                problems.append(f"{op[0]} {op[1]}: proxy saw {n}, clients sent {sent.get(op, 0)}")
    for service in sorted(rest_services):
        by_method: Counter[str] = Counter()
        for op, n in sent.items():
            if op[0] == service:
                out[op] += n
                by_method[http_method(session, op)] += n
        for (wire_service, method), n in wire.items():
            if wire_service == service and by_method.get(method, 0) != n:
                problems.append(
                    f"{service} {method}: proxy saw {n}, clients sent {by_method.get(method, 0)}"
                )
    return out, problems


@dataclass(frozen=True)
class RequestCheck:
    """Requests of one phase against the minimum."""

    phase: str
    actual: Counter[OpKey]
    minimum: Counter[OpKey]

    @property
    def ratio(self) -> float:
        return sum(self.actual.values()) / max(1, sum(self.minimum.values()))

    def rows(self) -> list[list[str]]:
        rows = []
        for op in sorted(set(self.actual) | set(self.minimum)):
            got, need = self.actual.get(op, 0), self.minimum.get(op, 0)
            rows.append(
                [op[0], op[1], str(got), str(need), f"{got / need:.2f}" if need else "extra"]
            )
        services = sorted({op[0] for op in (*self.actual, *self.minimum)})
        if len(services) > 1:
            for service in services:
                got = sum(n for op, n in self.actual.items() if op[0] == service)
                need = sum(n for op, n in self.minimum.items() if op[0] == service)
                ratio = f"{got / need:.2f}" if need else "extra"
                rows.append([f"{service} subtotal", "", str(got), str(need), ratio])
        total_got, total_need = sum(self.actual.values()), sum(self.minimum.values())
        rows.append(["total", "", str(total_got), str(total_need), f"{self.ratio:.2f}"])
        return rows
