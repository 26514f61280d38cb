"""Run per-scope jobs on a thread pool, with at most so many of one account at once.

botocore's adaptive retry mode paces each client; what it cannot see is how many clients
of one account are busy together (AWS throttles per account and region, and an account
with many regions can take every worker). ``run_jobs`` caps that, and hands the jobs out
round-robin by account so a capped account does not keep the others' jobs waiting.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

from reaper.errors import NotStarted

if TYPE_CHECKING:
    from reaper.config import Settings
    from reaper.model import Scope

T = TypeVar("T")

_STOP_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class WorkerLimits:
    """How many API workers a sweep runs, in all and on one account."""

    total: int = 8
    per_account: int | None = None
    """None: no cap beyond ``total``."""

    @classmethod
    def of(cls, settings: Settings) -> WorkerLimits:
        aws = settings.providers.aws
        return cls(aws.max_workers, aws.max_workers_per_account) if aws else cls()


def account_of(provider: str, scope: Scope) -> str:
    """The account a job in ``scope`` calls, as a ``Job.account``: ``aws:ci``."""
    return f"{provider}:{scope.account}"


@dataclass(frozen=True)
class Job(Generic[T]):
    """One unit of work and the account whose API it calls."""

    account: str
    """Who the job's requests count against, e.g. ``aws:ci``."""
    run: Callable[[], T]


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
    max_workers: int,
    per_account: int | None = None,
    stop: Callable[[], str | None] | None = None,
) -> list[Future[T]]:
    """Run every job, at most ``max_workers`` at once and ``per_account`` of one account.

    A job waits for a free worker and its account's turn before it is handed to the pool,
    so no worker thread sits blocked on a busy account. Once ``stop()`` gives a reason, no
    further job starts: the future of each one left holds :class:`NotStarted` with that
    reason.
    Returns when all started jobs have finished: every future, in the order of ``jobs``;
    a job's exception is in its future, not raised here.
    """
    waiting = deque(interleave(jobs))
    busy: Counter[str] = Counter()
    changed = threading.Condition()  # re-entrant: a callback may run in the submitting thread
    futures: dict[int, Future[T]] = {}
    # Without a stop to watch, only a finished job can change what may start.
    poll = None if stop is None else _STOP_POLL_SECONDS

    workers = max(1, min(max_workers, len(jobs)))

    def done(account: str, _: Future[T]) -> None:
        with changed:
            busy[account] -= 1
            changed.notify()

    def startable() -> int | None:
        # Jobs wait here rather than in the pool's queue, where a stop could not reach them.
        if busy.total() >= workers:
            return None
        for index in waiting:
            if per_account is None or busy[jobs[index].account] < per_account:
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
            account = jobs[index].account
            busy[account] += 1
            futures[index] = pool.submit(jobs[index].run)
            futures[index].add_done_callback(partial(done, account))
    return [futures[i] for i in range(len(jobs))]
