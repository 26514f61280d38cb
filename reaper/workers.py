"""Run per-scope jobs on a thread pool, with at most so many of one account at once.

botocore's adaptive retry mode paces each client; what it cannot see is how many clients
of one account are busy together (AWS throttles per account and region, and an account
with many regions can take every worker). ``run_jobs`` caps that, and hands the jobs out
round-robin by account so a capped account does not keep the others' jobs waiting.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

from reaper.errors import NotStarted

if TYPE_CHECKING:
    from reaper.config import Settings
    from reaper.model import Scope

T = TypeVar("T")
R = TypeVar("R")

_STOP_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Budget:
    """The workers of one provider."""

    workers: int = 8
    """At most this many of the provider's jobs at once."""
    per_account: int | None = None
    """At most this many on one of its accounts (projects, clusters); None: no cap."""


@dataclass(frozen=True)
class WorkerLimits:
    """How many API workers a sweep runs: each provider's budget, from its config section.

    A provider without a budget of its own (in tests, a kind given by hand) gets
    ``default``.
    """

    budgets: Mapping[str, Budget] = field(default_factory=dict)
    default: Budget = Budget()

    @classmethod
    def of(cls, settings: Settings) -> WorkerLimits:
        return cls(
            {
                name: Budget(section.max_workers, section.max_workers_per_account)
                for name, section in settings.providers.configured().items()
            }
        )

    @classmethod
    def uniform(cls, workers: int, per_account: int | None = None) -> WorkerLimits:
        """One budget for every provider."""
        return cls(default=Budget(workers, per_account))

    def budget(self, provider: str) -> Budget:
        return self.budgets.get(provider, self.default)

    def pool_size(self, jobs: Sequence[Job[T]]) -> int:
        """Threads enough for every provider with jobs to use its whole budget."""
        providers = {job.provider for job in jobs}
        return max(1, min(len(jobs), sum(self.budget(p).workers for p in providers)))


def map_bounded(
    call: Callable[[T], R], items: Sequence[T], workers: int, name: str = "reaper"
) -> list[R]:
    """``call`` on every item, at most ``workers`` at once; results in the items' order.
    One item (or one worker) runs in the calling thread."""
    if len(items) <= 1 or workers <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix=name) as pool:
        return list(pool.map(call, items))


def account_of(provider: str, scope: Scope) -> str:
    """The account a job in ``scope`` calls, as a ``Job.account``: ``aws:ci``."""
    return f"{provider}:{scope.account}"


@dataclass(frozen=True)
class Job(Generic[T]):
    """One unit of work and the account whose API it calls."""

    account: str
    """Who the job's requests count against, e.g. ``aws:ci``."""
    run: Callable[[], T]

    @property
    def provider(self) -> str:
        return self.account.partition(":")[0]


def interleave(jobs: Sequence[Job[T]]) -> list[int]:
    """Pure: the order to start ``jobs`` in (indexes), taking accounts in turn.

    Within an account the given order is kept; accounts take turns in the order they first
    appear.
    """
    queues: dict[str, deque[int]] = defaultdict(deque)
    for index, job in enumerate(jobs):
        queues[job.account].append(index)
    order: list[int] = []
    while queues:
        for account in list(queues):
            order.append(queues[account].popleft())
            if not queues[account]:
                del queues[account]
    return order


def run_jobs(
    jobs: Sequence[Job[T]],
    limits: WorkerLimits,
    stop: Callable[[], str | None] | None = None,
) -> list[Future[T]]:
    """Run every job within ``limits``: each provider's workers, and its cap per account.

    A job waits for a free worker and its account's turn before it is handed to the pool,
    so no worker thread sits blocked on a busy account. Once ``stop()`` gives a reason, no
    further job starts: the future of each one left holds :class:`NotStarted` with that
    reason.
    Returns when all started jobs have finished: every future, in the order of ``jobs``;
    a job's exception is in its future, not raised here.
    """
    waiting = deque(interleave(jobs))
    busy: Counter[str] = Counter()
    busy_providers: Counter[str] = Counter()
    changed = threading.Condition()  # re-entrant: a callback may run in the submitting thread
    futures: dict[int, Future[T]] = {}
    # Without a stop to watch, only a finished job can change what may start.
    poll = None if stop is None else _STOP_POLL_SECONDS

    workers = limits.pool_size(jobs)

    def done(job: Job[T], _: Future[T]) -> None:
        with changed:
            busy[job.account] -= 1
            busy_providers[job.provider] -= 1
            changed.notify()

    def startable() -> int | None:
        # Jobs wait here rather than in the pool's queue, where a stop could not reach them.
        if busy.total() >= workers:
            return None
        for index in waiting:
            job = jobs[index]
            budget = limits.budget(job.provider)
            if busy_providers[job.provider] >= budget.workers:
                continue
            if budget.per_account is None or busy[job.account] < budget.per_account:
                return index
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool, changed:
        while waiting:
            reason = stop() if stop is not None else None
            if reason is not None:
                for left in waiting:
                    futures[left] = Future()
                    futures[left].set_exception(NotStarted(reason))
                break
            index = startable()
            if index is None:
                changed.wait(poll)
                continue
            waiting.remove(index)
            job = jobs[index]
            busy[job.account] += 1
            busy_providers[job.provider] += 1
            futures[index] = pool.submit(job.run)
            futures[index].add_done_callback(partial(done, job))
    return [futures[i] for i in range(len(jobs))]
