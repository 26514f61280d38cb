"""The per-account worker cap: jobs of one account never run more than the cap at once,
other accounts' jobs go on meanwhile, and a sweep's collectors honour the configured cap.

Concurrency is observed, not timed: every job waits on a gate the test opens, and records
how many of its account were running when it started.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import pytest

from reaper.app import collect
from reaper.config import parse_settings
from reaper.errors import NotStarted
from reaper.model import Collected, Outcome, Resource, Scope
from reaper.providers.base import ResourceKind
from reaper.workers import Budget, Job, WorkerLimits, interleave, run_jobs

WAIT = 10.0


class Gauge:
    """How many jobs of each account run now, and the most that ever ran together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.started: list[str] = []

    def enter(self, account: str) -> None:
        with self._lock:
            self.now[account] += 1
            self.peak[account] = max(self.peak[account], self.now[account])
            self.started.append(account)

    def leave(self, account: str) -> None:
        with self._lock:
            self.now[account] -= 1


def until(condition: Callable[[], bool]) -> None:
    """Wait (up to WAIT seconds) for the jobs to reach a state; the asserts say if not."""
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def gated(gauge: Gauge, account: str, gate: threading.Event, value: int) -> Job[int]:
    def run() -> int:
        gauge.enter(account)
        try:
            assert gate.wait(WAIT), "the test never opened the gate"
            return value
        finally:
            gauge.leave(account)

    return Job(account, run)


def test_interleave_takes_accounts_in_turn_and_keeps_each_accounts_order() -> None:
    jobs = [Job(a, lambda: None) for a in ("a", "a", "a", "b", "c", "c")]

    assert interleave(jobs) == [0, 3, 4, 1, 5, 2]
    assert interleave([]) == []


def test_a_capped_account_runs_at_most_the_cap_while_other_accounts_go_on() -> None:
    gauge = Gauge()
    gate = threading.Event()
    jobs = [gated(gauge, "aws:busy", gate, n) for n in range(6)]
    jobs.append(gated(gauge, "aws:quiet", gate, 100))
    outcome: list[list[int]] = []
    runner = threading.Thread(
        target=lambda: outcome.append(
            [f.result() for f in run_jobs(jobs, WorkerLimits.uniform(8, per_account=2))]
        )
    )

    runner.start()
    # The quiet account's job starts although the busy account has more jobs queued.
    until(lambda: gauge.now["aws:quiet"] == 1 and gauge.now["aws:busy"] == 2)
    assert gauge.now == Counter({"aws:busy": 2, "aws:quiet": 1})
    gate.set()
    runner.join(WAIT)

    assert outcome == [[0, 1, 2, 3, 4, 5, 100]]  # every job ran, results in job order
    assert gauge.peak == Counter({"aws:busy": 2, "aws:quiet": 1})


def test_without_a_cap_only_the_total_limits() -> None:
    gauge = Gauge()
    gate = threading.Event()
    jobs = [gated(gauge, "aws:ci", gate, n) for n in range(5)]
    runner = threading.Thread(target=lambda: run_jobs(jobs, WorkerLimits.uniform(4)))

    runner.start()
    until(lambda: gauge.now["aws:ci"] == 4)
    gate.set()
    runner.join(WAIT)

    assert gauge.peak["aws:ci"] == 4


def test_a_failing_job_leaves_its_error_in_its_future_and_frees_its_slot() -> None:
    def boom() -> int:
        raise RuntimeError("boom")

    futures = run_jobs(
        [Job("aws:ci", boom), Job("aws:ci", lambda: 2), Job("aws:ci", lambda: 3)],
        WorkerLimits.uniform(4, per_account=1),
    )

    with pytest.raises(RuntimeError, match="boom"):
        futures[0].result()
    assert [f.result() for f in futures[1:]] == [2, 3]


def test_after_a_stop_no_further_job_starts_and_the_ones_left_say_why() -> None:
    gauge = Gauge()
    gate = threading.Event()
    reason: list[str] = []
    jobs = [gated(gauge, "aws:ci", gate, n) for n in range(3)]
    futures: list[list[Future[int]]] = []
    runner = threading.Thread(
        target=lambda: futures.append(
            run_jobs(
                jobs,
                WorkerLimits.uniform(4, per_account=1),
                stop=lambda: reason[0] if reason else None,
            )
        )
    )

    runner.start()
    until(lambda: gauge.now["aws:ci"] == 1)
    reason.append("daemon shutting down")
    time.sleep(0.3)  # a few of run_jobs' polls: nothing else starts meanwhile
    gate.set()
    runner.join(WAIT)

    (done,) = futures
    assert done[0].result() == 0  # the job already running finishes
    for left in done[1:]:
        with pytest.raises(NotStarted, match="daemon shutting down"):
            left.result()
    assert gauge.started == ["aws:ci"]


class RegionsKind(ResourceKind):
    """A kind on reaper's own provider protocol whose collect waits on the test's gate."""

    provider = "aws"
    kind = "gated"
    permissions = ()
    delete_order = 50

    def __init__(self, scopes: Sequence[Scope], gauge: Gauge, gate: threading.Event) -> None:
        self._scopes = scopes
        self._gauge = gauge
        self._gate = gate

    def scopes(self) -> Sequence[Scope]:
        return self._scopes

    def collect(self, scope: Scope) -> Collected:
        self._gauge.enter(scope.account)
        try:
            assert self._gate.wait(WAIT)
            return Collected(resources=(), skipped=0)
        finally:
            self._gauge.leave(scope.account)

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        return []


def test_collect_honours_the_per_account_cap_across_regions() -> None:
    regions = ("us-east-1", "us-east-2", "eu-west-1", "eu-central-1")
    scopes = [Scope(account, r) for account in ("prod-ci", "dev-ci") for r in regions]
    gauge = Gauge()
    gate = threading.Event()
    kind = RegionsKind(scopes, gauge, gate)
    done: list[int] = []
    runner = threading.Thread(
        target=lambda: done.append(
            len(collect([kind], WorkerLimits.uniform(8, per_account=1)).errors)
        )
    )

    runner.start()
    until(lambda: sum(gauge.now.values()) == 2)
    gate.set()
    runner.join(WAIT)

    assert done == [0]
    assert gauge.peak == Counter({"prod-ci": 1, "dev-ci": 1})
    assert len(gauge.started) == 8


def test_worker_limits_come_from_each_providers_section() -> None:
    settings = parse_settings(
        {
            "providers": {
                "aws": {"regions": ["us-east-1"], "max_workers": 6, "max_workers_per_account": 2}
            }
        },
        "test.yaml",
    )

    assert WorkerLimits.of(settings) == WorkerLimits({"aws": Budget(6, 2)})
