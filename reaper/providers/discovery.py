"""Scopes named by hand plus those a listing finds, listed again after an interval.

Shared by the providers that discover what they sweep (AWS accounts of an organization, GCP
projects of an organization or folders): :class:`Rediscovered` holds the merged set, keyed
by the name reports and shards use, and asks the provider's ``listing`` for the found part
on first use and again once ``every`` has passed. A listing that fails keeps what the last
good one found, and the error is kept for the provider's error scope (``aws-organization``,
``gcp-organization``), whose collectors fail with it: one collect error per kind, while the
named scopes are swept. That scope stands for the listing itself, not for a part of the
estate, so every shard collects it (``ResourceKind.is_shared``): each shard lists for itself,
and each whose listing fails says so.

:func:`walk` is the tree walk both listings make (OUs below roots and OUs, folders below an
organization and folders): breadth first, each node's children asked once, excluded
subtrees never entered. No cloud SDK here; the provider passes its calls in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from reaper.errors import ProviderError

log = logging.getLogger(__name__)

T = TypeVar("T")
N = TypeVar("N", bound=Hashable)

Listing = Callable[[], Sequence[T]]
"""Lists what is found now. Raises ProviderError when it cannot."""
Merge = Callable[[Sequence[T], Iterable[T]], Sequence[T]]
"""The named items, then the found ones they do not already cover. Pure."""


RETRY_AFTER_FAILURE = 60.0
"""Seconds after a failed listing before the next one: once per sweep of a daemon, not
once per scope of one sweep, and not only after ``rediscover_after``."""


class Rediscovered(Generic[T]):
    """The items swept: ``named`` ones, then what ``listing`` found (see the module doc).

    Thread-safe: one listing at a time; readers see the last merged set. ``listing`` None
    means there is nothing to discover (only the named items). ``clock`` is a monotonic
    clock in seconds (tests pass their own).
    """

    def __init__(
        self,
        named: Sequence[T],
        name_of: Callable[[T], str],
        *,
        listing: Listing[T] | None,
        merge: Merge[T],
        every: timedelta,
        what: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``what`` names the listing in logs (``the organization's accounts``)."""
        self._named = tuple(named)
        self._name_of = name_of
        self._listing = listing
        self._merge = merge
        self._every = every.total_seconds()
        self._what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._listing_lock = threading.Lock()
        self._items: dict[str, T] = {name_of(item): item for item in self._named}
        self._due_at: float | None = None
        self._error: ProviderError | None = None

    @property
    def error(self) -> ProviderError | None:
        """Why the last listing failed, or None when it worked (or there is none)."""
        with self._lock:
            return self._error

    def items(self) -> list[T]:
        """The named items, then the found ones; lists first if due."""
        self.refresh()
        with self._lock:
            return list(self._items.values())

    def get(self, name: str) -> T | None:
        """The item of that name as last merged (never lists)."""
        with self._lock:
            return self._items.get(name)

    def refresh(self) -> None:
        """List again if never listed, the last listing is ``every`` old, or it failed
        :data:`RETRY_AFTER_FAILURE` ago (a daemon's next sweep tries again)."""
        if self._listing is None:
            return
        with self._listing_lock:
            if self._due_at is not None and self._clock() < self._due_at:
                return
            error: ProviderError | None = None
            try:
                found: Sequence[T] = self._listing()
            except ProviderError as err:
                log.error("cannot list %s: %s", self._what, err)
                error = err
                with self._lock:
                    found = [i for i in self._items.values() if i not in self._named]
            else:
                log.info("%s: %d to sweep", self._what, len(found))
            merged = self._merge(self._named, found)
            with self._lock:
                self._items = {self._name_of(item): item for item in merged}
                self._error = error
            wait = self._every if error is None else min(self._every, RETRY_AFTER_FAILURE)
            self._due_at = self._clock() + wait

    def failure(self) -> ProviderError:
        """A fresh ProviderError of the last listing's failure (for one collector), chained
        to the SDK error as the original was. Call only while :attr:`error` is set."""
        error = self.error
        assert error is not None
        fresh = ProviderError(str(error))
        fresh.__cause__ = error.__cause__
        fresh.__suppress_context__ = True
        return fresh


@dataclass(frozen=True)
class Walked(Generic[N]):
    """What :func:`walk` found."""

    nodes: dict[N, tuple[N, ...]]
    """Every node reached from the roots and not excluded, in breadth-first order, each with
    its children as asked (excluded ones included)."""
    excluded: dict[N, tuple[N, ...]]
    """The excluded roots and every node below them, each with its children."""


def walk(
    roots: Iterable[N], children: Callable[[N], Sequence[N]], excluded: Iterable[N] = ()
) -> Walked[N]:
    """The trees below ``roots`` (roots included), less the subtrees of ``excluded``.

    Breadth first; ``children(node)`` (a listing: it may raise) is asked once per node
    reached, however many roots reach it (a root named next to its parent, a root given
    twice). The excluded subtrees are walked first, so a root that lies below an excluded
    node is left out however it is reached (exclusion wins); the main walk never enters
    them. Callers list what a node holds (accounts, projects) for ``nodes`` only, or, to
    subtract from a listing of everything, for ``excluded``. Pure but for ``children``.
    """
    left_out = _breadth_first(excluded, children, {})
    return Walked(_breadth_first(roots, children, left_out), left_out)


def _breadth_first(
    roots: Iterable[N], children: Callable[[N], Sequence[N]], skip: dict[N, tuple[N, ...]]
) -> dict[N, tuple[N, ...]]:
    found: dict[N, tuple[N, ...]] = {}
    queue = deque(roots)
    while queue:
        node = queue.popleft()
        if node in found or node in skip:
            continue
        found[node] = tuple(children(node))
        queue.extend(found[node])
    return found
