"""Asks the CI systems, once per run per sweep, whether the runs resources belong to are over.

:class:`RunLookup` is the I/O shell around the pure parts: it reads each source's token from
the environment, asks GitHub or GitLab about every distinct run on a bounded thread pool,
respects their rate limits (waiting only within a bound, never past it), and keeps each run's
ETag and last body across sweeps so a daemon asks conditionally and a ``304`` costs GitHub
nothing. It never raises for an API that fails: every run gets a :class:`RunStatus`, and an
unanswerable one is ``UNKNOWN`` with a reason, logged once per sweep.

Tokens are read at the start of each sweep and held as :class:`Secret` (masked in any repr)
until a request needs one; every detail and log line passes through a :class:`Redactor` that
knows them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from reaper.pipelines import http
from reaper.pipelines.cache import CachedAnswer, EtagCache
from reaper.pipelines.errors import ApiRequestError
from reaper.pipelines.github import GithubApi
from reaper.pipelines.gitlab import GitlabApi
from reaper.pipelines.model import RunRef, RunState, RunStatus, UnknownReason
from reaper.pipelines.ratelimit import RateGate
from reaper.pipelines.redact import Redactor, Secret
from reaper.pipelines.results import LookupResult, LookupStats
from reaper.pipelines.sources import GithubSource, Source
from reaper.pipelines.wire import Answer, RunApi

log = logging.getLogger("reaper.pipelines")

Clock = Callable[[], float]
"""Epoch seconds (``time.time``)."""
Sleep = Callable[[float], None]


class _Tally:
    """The mutable counts of one sweep, shared by its workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = self.not_modified = self.throttled = 0
        self.waited = 0.0

    def add(
        self, *, requests: int = 0, not_modified: int = 0, throttled: int = 0, waited: float = 0.0
    ) -> None:
        with self._lock:
            self.requests += requests
            self.not_modified += not_modified
            self.throttled += throttled
            self.waited += waited


@dataclass(frozen=True)
class _Sweep:
    """What every worker of one sweep shares."""

    tokens: Mapping[str, Secret]
    """Token by environment variable name, read at the start of the sweep."""
    deadline: float
    """No wait for a rate limit may end after this (epoch seconds)."""
    tally: _Tally
    refused: set[tuple[str, str]] = field(default_factory=set)
    """(API root, token variable) pairs answered 401 this sweep: not asked again until the
    next sweep, since a token refused once is refused for every run (and GitHub counts
    failed logins)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


class RunLookup:
    """Looks up the state of CI runs; one object per process, kept across sweeps.

    ``sources`` maps source aliases to where they point. ``environ`` (``os.environ`` by
    default) is read at every sweep, so a rotated token is picked up. ``max_workers`` bounds
    the requests in flight. ``max_wait`` bounds, per sweep, how long a run may wait for a rate
    limit to lift: a run that would have to wait longer is ``UNKNOWN`` (rate-limited) and
    nothing is sent for it. ``max_attempts`` bounds the requests for one run when answers are
    throttles. ``clock`` and ``sleep`` are injected for tests.
    """

    def __init__(
        self,
        sources: Mapping[str, Source],
        *,
        environ: Mapping[str, str] | None = None,
        max_workers: int = 4,
        max_wait: float = 30.0,
        max_attempts: int = 3,
        timeout: float = 10.0,
        cache_size: int = 10_000,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
    ) -> None:
        if max_workers < 1 or max_attempts < 1:
            raise ValueError("max_workers and max_attempts must be at least 1")
        if max_wait < 0 or timeout <= 0:
            raise ValueError("max_wait cannot be negative and timeout must be positive")
        self._sources = dict(sources)
        self._apis: dict[str, RunApi] = {
            alias: GithubApi(s) if isinstance(s, GithubSource) else GitlabApi(s)
            for alias, s in self._sources.items()
        }
        self._environ = environ
        self._max_workers = max_workers
        self._max_wait = max_wait
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._cache = EtagCache(cache_size)
        self._opener = http.build_opener()
        self._gates: dict[tuple[str, str], RateGate] = {}
        self._lock = threading.Lock()
        self._totals = LookupStats()

    @property
    def totals(self) -> LookupStats:
        """The counts of every sweep so far (monotonic: feed them to counters)."""
        with self._lock:
            return self._totals

    @property
    def cached_runs(self) -> int:
        """How many run URLs have an ETag kept."""
        return len(self._cache)

    def forget(self) -> None:
        """Drop every kept ETag (the next sweep asks unconditionally)."""
        self._cache.clear()

    def lookup(self, refs: Iterable[RunRef]) -> LookupResult:
        """Ask about every distinct run in ``refs`` once; never raises for an API failure.

        Logs each ``UNKNOWN`` run once (a warning with its reason) and one summary line.
        """
        distinct = sorted(set(refs), key=lambda ref: ref.sort_key)
        environ = os.environ if self._environ is None else self._environ
        tokens = {
            name: Secret(environ[name])
            for name in {s.token_env for s in self._sources.values()}
            if environ.get(name)
        }
        redact = Redactor(t.reveal() for t in tokens.values())
        sweep = _Sweep(tokens, self._clock() + self._max_wait, _Tally())
        statuses: dict[RunRef, RunStatus] = {}
        if distinct:
            workers = min(self._max_workers, len(distinct))
            with ThreadPoolExecutor(workers, thread_name_prefix="reaper-runs") as pool:
                verdicts = pool.map(lambda ref: self._resolve_safely(ref, sweep), distinct)
                for ref, status in zip(distinct, verdicts, strict=True):
                    statuses[ref] = replace(status, detail=redact(status.detail))
        stats = self._stats(statuses, sweep.tally)
        for ref, status in statuses.items():
            if status.state is RunState.UNKNOWN:
                log.warning(
                    "pipeline run state unknown run=%s reason=%s: %s",
                    ref,
                    status.reason,
                    status.detail,
                )
        log.info(
            "pipeline lookups runs=%d finished=%d active=%d unknown=%d requests=%d "
            "not_modified=%d throttled=%d waited=%.1fs",
            stats.runs,
            stats.states.get(RunState.FINISHED, 0),
            stats.states.get(RunState.ACTIVE, 0),
            stats.unknown,
            stats.requests,
            stats.not_modified,
            stats.throttled,
            stats.waited_seconds,
        )
        with self._lock:
            self._totals = self._totals + stats
        return LookupResult(MappingProxyType(statuses), stats)

    # -- one run -----------------------------------------------------------------------

    def _resolve_safely(self, ref: RunRef, sweep: _Sweep) -> RunStatus:
        """:meth:`_resolve`, with a bug in reading one answer costing that run, not the sweep."""
        try:
            return self._resolve(ref, sweep)
        except Exception as err:  # the verdict carries it; the sweep goes on
            return RunStatus.unknown(
                UnknownReason.API_ERROR, f"internal error: {type(err).__name__}: {err}"
            )

    def _resolve(self, ref: RunRef, sweep: _Sweep) -> RunStatus:
        source = self._sources.get(ref.source_alias)
        api = self._apis.get(ref.source_alias)
        if source is None or api is None:
            known = ", ".join(sorted(self._sources)) or "none"
            return RunStatus.unknown(
                UnknownReason.UNCONFIGURED_SOURCE,
                f"no source {ref.source_alias!r} is configured (configured: {known})",
            )
        refused = api.refuse(ref)
        if refused is not None:
            return refused
        token = sweep.tokens.get(source.token_env)
        if token is None:
            return RunStatus.unknown(
                UnknownReason.NO_TOKEN, f"environment variable {source.token_env} is not set"
            )
        credential = (api.root, source.token_env)
        with sweep.lock:
            if credential in sweep.refused:
                return RunStatus.unknown(
                    UnknownReason.UNAUTHORIZED,
                    f"the token in {source.token_env} was refused earlier in this sweep",
                )
        gate = self._gate(api, source.token_env)
        url = api.url(ref)
        for _ in range(self._max_attempts):
            blocked = self._wait_for(gate, sweep)
            if blocked is not None:
                return blocked
            cached = self._cache.get(url)
            sent = self._send(api, gate, url, token, cached, sweep)
            if isinstance(sent, RunStatus):
                return sent
            answer, throttled = sent
            if answer.status == 401:
                with sweep.lock:
                    sweep.refused.add(credential)
            if not throttled:
                cached_body = cached.body if cached is not None else None
                return self._verdict(api, ref, url, answer, cached_body=cached_body)
        return RunStatus.unknown(
            UnknownReason.RATE_LIMITED,
            f"rate-limited on each of {self._max_attempts} attempts",
        )

    def _send(
        self,
        api: RunApi,
        gate: RateGate,
        url: str,
        token: Secret,
        cached: CachedAnswer | None,
        sweep: _Sweep,
    ) -> tuple[Answer, bool] | RunStatus:
        """One request (conditional when ``cached``), settled with ``gate`` whatever happens:
        the answer and whether it was a throttle, or the verdict on a request with no answer."""
        headers = api.headers(token.reveal())
        if cached is not None:
            headers["If-None-Match"] = cached.etag
        settled = False
        try:
            try:
                answer = http.get(self._opener, url, headers, timeout=self._timeout)
            except ApiRequestError as err:
                sweep.tally.add(requests=1)
                return RunStatus.unknown(UnknownReason.API_ERROR, str(err))
            throttle = api.throttle(answer, self._clock())
            not_modified = answer.status == 304
            gate.settle(api.budget(answer), throttle, not_modified=not_modified)
            settled = True
            sweep.tally.add(
                requests=1, not_modified=int(not_modified), throttled=int(throttle is not None)
            )
            return answer, throttle is not None
        finally:
            if not settled:  # no answer, or a bug: never leave the gate waiting on this one
                gate.settle(None, None, not_modified=False, answered=False)

    def _wait_for(self, gate: RateGate, sweep: _Sweep) -> RunStatus | None:
        """Wait until ``gate`` lends a unit, within the sweep's deadline; or say why not."""
        while True:
            now = self._clock()
            wait = gate.acquire(now)
            if wait <= 0:
                return None
            if now + wait > sweep.deadline:
                return RunStatus.unknown(
                    UnknownReason.RATE_LIMITED,
                    f"rate limit lifts in {wait:.0f}s, after this sweep's "
                    f"{self._max_wait:.0f}s wait bound; nothing was sent",
                )
            self._sleep(wait)
            sweep.tally.add(waited=wait)

    def _verdict(
        self, api: RunApi, ref: RunRef, url: str, answer: Answer, *, cached_body: bytes | None
    ) -> RunStatus:
        if answer.status == 304:
            if cached_body is None:
                return RunStatus.unknown(
                    UnknownReason.API_ERROR, "HTTP 304 to a request without If-None-Match"
                )
            status = api.status(ref, cached_body)
            return replace(status, detail=f"{status.detail} (not modified)".strip())
        if answer.status == 200:
            status = api.status(ref, answer.body)
            etag = answer.headers.get("etag")
            if etag and status.state is not RunState.UNKNOWN:
                self._cache.put(url, etag, answer.body)
            else:
                self._cache.discard(url)
            return status
        if answer.status in (404, 410):
            self._cache.discard(url)
        return api.error(answer)

    def _gate(self, api: RunApi, token_env: str) -> RateGate:
        """The budget of one API and token, shared by the sources that use both."""
        key = (api.root, token_env)
        with self._lock:
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = RateGate(
                    free_not_modified=api.free_not_modified, probe_timeout=self._timeout + 5
                )
            return gate

    @staticmethod
    def _stats(statuses: Mapping[RunRef, RunStatus], tally: _Tally) -> LookupStats:
        return LookupStats(
            runs=len(statuses),
            requests=tally.requests,
            not_modified=tally.not_modified,
            throttled=tally.throttled,
            waited_seconds=tally.waited,
            states=MappingProxyType(dict(Counter(s.state for s in statuses.values()))),
            unknown_reasons=MappingProxyType(
                dict(Counter(s.reason for s in statuses.values() if s.reason is not None))
            ),
        )

    def __repr__(self) -> str:
        return (
            f"RunLookup(sources={sorted(self._sources)}, max_workers={self._max_workers}, "
            f"max_wait={self._max_wait}, cached_runs={len(self._cache)})"
        )
