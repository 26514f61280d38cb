"""Measuring one phase of the sweep: its requests, wall time, CPU time and timeline.

Requests are counted twice over: by the proxy every client of the sweep talks through,
and by botocore's ``before-send`` event on the session the clients are made from
(:class:`bench.request_counts.OperationCounter`); the two must agree.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import boto3

from bench import cpu
from bench.minimum import CALLER_IDENTITY, OpKey
from bench.request_counts import OperationCounter, attribute, by_operation
from reaper.sandbox.proxy import CountingProxy, CountKey

T = TypeVar("T")


@dataclass(frozen=True)
class PhaseRun:
    """What one phase cost."""

    wall: float
    """Seconds from the call to its return."""
    cpu_use: cpu.CpuUse
    counts: Counter[OpKey]
    """Requests by operation, as the proxy counted them (REST ones attributed)."""
    server_times: dict[CountKey, list[float]]
    """Seconds the proxy waited for moto, per request, by (service, region, operation)."""
    timeline: str
    """When the phase's requests went out, for the wall-time notes."""


@dataclass(frozen=True)
class Meter:
    """Measures phases run through ``proxy`` by clients made from ``session``."""

    proxy: CountingProxy
    sent: OperationCounter
    session: boto3.Session
    moto_pid: int | None

    def measure(self, phase: str, call: Callable[[], T], problems: list[str]) -> tuple[T, PhaseRun]:
        """Run ``call`` as phase ``phase``; disagreements between the counts go to ``problems``."""
        self.proxy.reset_counts()
        self.sent.start()
        cpu_before = cpu.read(self.moto_pid)
        started = time.perf_counter()
        result = call()
        wall = time.perf_counter() - started
        use = cpu.CpuUse.between(cpu_before, cpu.read(self.moto_pid))
        counts, disagree = attribute(
            by_operation(self.proxy.counts()), self.sent.stop(), self.session
        )
        server_times = self.proxy.server_times()
        problems.extend(f"{phase} requests: {d}" for d in disagree)
        sends = timeline(self.sent.sends(), started, wall)
        return result, PhaseRun(wall, use, counts, server_times, sends)


def timeline(sends: Sequence[tuple[float, OpKey]], started: float, wall: float) -> str:
    """When the requests of a phase went out, relative to its start (seconds). Pure.

    The actuator asks who reaper acts as (GetCallerIdentity) before its first action, so
    requests before that are the collect's and requests from it on are the actions'.
    """
    if not sends:
        return f"no requests; returned at {wall:.2f} s"
    times = [t - started for t, _ in sends]
    acting = [t - started for t, op in sends if op == CALLER_IDENTITY]
    if not acting:
        return (
            f"first request at {times[0]:.2f} s, last sent at {times[-1]:.2f} s, "
            f"returned at {wall:.2f} s"
        )
    collect = [t for t in times if t < acting[0]]
    last_collect = f"{collect[-1]:.2f}" if collect else "-"
    return (
        f"collect requests sent from {times[0]:.2f} to {last_collect} s, action requests "
        f"from {acting[0]:.2f} to {times[-1]:.2f} s, returned at {wall:.2f} s"
    )
