"""``reaper daemon``: sweeps on a schedule, probes and metrics over HTTP, a graceful stop.

Jobs. ``daemon.schedule`` sweeps every configured provider that has no schedule of its
own under ``daemon.providers``; each provider there gets a job sweeping only its kinds.
Never two sweeps at once: every job has ``max_instances=1`` and ``coalesce=True``, and
one process-wide lock spans the jobs, so a job that fires while another job's sweep runs
is skipped (logged, and counted in ``reaper_daemon_skipped_runs_total``). Every job's
first sweep starts as the daemon starts. Cron expressions are crontab's, in UTC.

Each sweep reads the clock once and opens the audit trail afresh, holding its lock only
while the sweep runs: the chain head is read again, so a ``reaper release`` run by hand
between sweeps continues the same chain instead of forking it, and a sink that cannot be
reached fails that sweep only, not every later one. The daemon remembers the last record
it wrote: a trail that ends before it (the local file deleted or replaced between
sweeps) is refused, and so is every later sweep, until the trail is restored or the
daemon restarted. The metrics registry lives as long as the daemon, and so do the CI-run
lookups (``pipelines``), whose ETags make later sweeps ask conditionally.

HTTP on ``daemon.listen``: ``/metrics``; ``/healthz`` (200 while the scheduler runs);
``/readyz`` (200 while the last sweep left no intent unresolved and, for every job, the
last sweep ended with exit code 0 within ``daemon.ready_after_missed`` schedule
periods). Requests are not logged.

Several replicas. With ``daemon.leader_election`` set, only the holder of a Lease sweeps
(see :mod:`reaper.providers.kubernetes.lease`); every replica serves the probes and
metrics, and ``reaper_leader`` is 1 on the leader. A follower opens no audit trail (so it
holds no lock), is ready while it hears from the API server, and leaves the last sweep's
snapshot gauges (``reaper_unresolved_intents`` among them) to the leader, which reports
them now. A replica that becomes the leader sweeps at once; on a trail the replicas share
it continues from the records other leaders added meanwhile (only a trail that ends before
this replica's own last record went back). A leader that can no longer renew its Lease
stops its sweep as on SIGTERM (after the action group it is in) and, should that group
still run when another replica could take over, abandons it (a ``shutdown-abandoned``
record, while it still holds the trail) and exits 1: the abandonment starts with enough
of the lease left for the record's write and the exit to end before the lease can
expire. The same holds while a stop drains its sweep. A clean stop hands the Lease back,
so another replica takes over at once.

Stopping. The first SIGTERM (or SIGINT) schedules nothing more and asks the running
sweep to stop after the action group it is in (see :class:`reaper.actuator.StopFlag`):
groups not started get ``skipped`` records and no intents, scopes not yet collected are
not collected (collect errors in the end record), the sweep writes its ``sweep-end`` and
the daemon exits 0. A second signal, or ``daemon.shutdown_timeout``
passing, abandons the sweep: a ``shutdown-abandoned`` record names the intents still
without an outcome (the next sweep's recovery completes them) and the daemon exits 1.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Protocol
from urllib.parse import urlsplit

from apscheduler.executors.pool import (  # type: ignore[import-untyped]
    ThreadPoolExecutor as PoolExecutor,
)
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from reaper import __version__
from reaper.actuator import StopFlag
from reaper.app import SweepService
from reaper.audit import AuditLog, ChainHead
from reaper.audit.build import build_audit_log
from reaper.config import ABANDON_MARGIN_SECONDS, Schedule, Settings
from reaper.durations import format_duration
from reaper.errors import AuditError, AuditLocked, ConfigError, ReaperError
from reaper.lifecycle import StateSigner
from reaper.metrics import Metrics
from reaper.notify import WebhookNotifier
from reaper.pipelines.facts import PipelineStep
from reaper.providers.base import ResourceKind
from reaper.results import ExitCode, SweepReport
from reaper.schedules import cron_trigger

log = logging.getLogger(__name__)

STOP_REASON = "daemon shutting down"
"""The message of the outcomes and ``skipped`` records of actions a stop left undone."""
LEADERSHIP_LOST = "leadership lost: the Lease could not be renewed"
"""The same, for actions a replica left undone because it no longer leads."""
DEFAULT_JOB = "default"
_POLL_SECONDS = 0.1
"""How often the main thread looks at signals, the running sweep and the election."""
_EXIT_SECONDS = 0.5
"""What an abandonment keeps, after that wait, for the process to exit (``os._exit``)."""
_ABANDON_MARGIN_SECONDS = ABANDON_MARGIN_SECONDS
"""A sweep that lost its leadership is abandoned once its lease has no more than this
left: the poll that notices it, the wait for the record and the exit all fit before the
lease can expire (and a poll that comes late waits less for the record). The config
requires ``lease_duration - renew_deadline`` to be at least this."""
_ABANDON_WRITE_SECONDS = _ABANDON_MARGIN_SECONDS - _POLL_SECONDS - _EXIT_SECONDS
"""How long an abandoning daemon waits at most for its ``shutdown-abandoned`` record to be
stored: what the margin leaves after the poll and the exit."""


# -- schedules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One schedule and the providers its sweeps cover."""

    name: str
    """``default`` for ``daemon.schedule``, else the provider named in ``daemon.providers``."""
    providers: tuple[str, ...]
    schedule: Schedule
    trigger: Any
    """The APScheduler trigger (CronTrigger in UTC, or IntervalTrigger)."""
    period: timedelta
    """Between two sweeps: the interval, or for cron the gap between its next two fire
    times when the daemon started. ``/readyz`` allows ``ready_after_missed`` of these."""

    def describe(self) -> str:
        if self.schedule.cron is not None:
            when = f"cron '{self.schedule.cron}' UTC (period {format_duration(self.period)})"
        else:
            when = f"every {format_duration(self.period)}"
        return f"{self.name}[{','.join(self.providers)}]: {when}"


def plan_jobs(settings: Settings, now: datetime) -> list[Job]:
    """The daemon's jobs. Pure but for building the triggers.

    Raises ConfigError when a provider with a schedule of its own is not configured, or a
    schedule is refused (a loaded config's crons were checked when it was loaded).
    Consumed by :class:`Daemon`.
    """
    configured = [
        name
        for name in type(settings.providers).model_fields
        if getattr(settings.providers, name) is not None
    ]
    own = settings.daemon.providers
    problems = [
        f"daemon.providers.{name}: the provider is not configured (add providers.{name})"
        for name in own
        if name not in configured
    ]
    if problems:
        raise ConfigError(problems)
    wanted: list[tuple[str, tuple[str, ...], Schedule, str]] = []
    shared = tuple(p for p in configured if p not in own)
    if shared:
        wanted.append((DEFAULT_JOB, shared, settings.daemon.schedule, "daemon.schedule"))
    wanted += [(name, (name,), own[name], f"daemon.providers.{name}") for name in own]
    jobs: list[Job] = []
    for name, providers, schedule, key in wanted:
        trigger = make_trigger(schedule, key)
        jobs.append(Job(name, providers, schedule, trigger, trigger_period(trigger, now, key)))
    return jobs


def make_trigger(schedule: Schedule, key: str = "daemon.schedule") -> Any:
    """The APScheduler trigger of a schedule. Raises ConfigError naming ``key``.

    A loaded config's crons were checked by the same :func:`reaper.schedules.cron_trigger`.
    """
    if schedule.interval is not None:
        return IntervalTrigger(seconds=schedule.interval.total_seconds(), timezone=UTC)
    assert schedule.cron is not None  # Schedule allows exactly one of the two
    try:
        return cron_trigger(schedule.cron)
    except ValueError as err:
        raise ConfigError([f"{key}.cron: {err}"]) from None


def trigger_period(trigger: Any, now: datetime, key: str = "daemon.schedule") -> timedelta:
    """The gap between a trigger's next two fire times after ``now``. Pure."""
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first) if first is not None else None
    if first is None or second is None:
        raise ConfigError([f"{key}: the schedule never fires (twice)"])
    period: timedelta = second - first
    return period


# -- readiness -------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepStatus:
    """How the last sweep of a job ended."""

    sweep_id: str | None
    """None when the sweep failed before it had one (the audit trail did not open)."""
    finished: datetime
    exit_code: int
    error: str = ""
    """Why the sweep failed before it had a report."""
    unresolved: tuple[str, ...] | None = None
    """The trail's intents still without an outcome after the sweep, described; None when
    the sweep failed before it could tell."""


def readiness(
    jobs: Sequence[Job], last: Mapping[str, SweepStatus], ready_after_missed: int, now: datetime
) -> tuple[bool, str]:
    """Ready when the trail has no unresolved intent and every job's last sweep ended with
    exit code 0 recently enough. Pure.

    Unresolved intents are the trail's, so the latest sweep of any job that could tell
    says. Recently enough: within ``ready_after_missed`` periods of the job's schedule
    before ``now``. Returns the verdict and the reason, for ``/readyz``.
    """
    told = [s for s in last.values() if s.unresolved is not None]
    latest = max(told, key=lambda s: s.finished, default=None)
    if latest is not None and latest.unresolved:
        count = len(latest.unresolved)
        more = f" (and {count - 1} more)" if count > 1 else ""
        return False, (
            f"{count} unresolved intent{'s' if count > 1 else ''} in the audit trail, "
            f"actions of unknown fate that each sweep's recovery tries again: "
            f"{latest.unresolved[0]}{more}"
        )
    for job in jobs:
        status = last.get(job.name)
        if status is None:
            return False, f"job {job.name}: no sweep has finished yet"
        if status.exit_code != ExitCode.OK:
            why = f": {status.error}" if status.error else ""
            return False, (
                f"job {job.name}: the last sweep ({status.sweep_id or 'not started'}) "
                f"ended with exit code {status.exit_code}{why}"
            )
        window = job.period * ready_after_missed
        if now - status.finished > window:
            return False, (
                f"job {job.name}: the last sweep finished at {status.finished.isoformat()}, "
                f"more than {ready_after_missed} periods of {format_duration(job.period)} ago"
            )
    return True, "ok"


# -- the daemon ------------------------------------------------------------------------


class Leadership(Protocol):
    """Who sweeps among several replicas (:class:`~reaper.providers.kubernetes.lease.
    LeaderElector`); thread-safe."""

    identity: str

    def run(self, stop: threading.Event) -> None:
        """Take and keep the lead until ``stop`` is set (runs in a thread of its own)."""

    def is_leader(self) -> bool:
        """Leading now, by the clock (a leader that could not renew in time is not)."""

    def lease_left(self) -> float:
        """Seconds until another replica may take over: what a running sweep has left."""

    def status(self) -> tuple[bool, str]:
        """Whether the election works, and who leads: ``/readyz`` of a follower."""

    def release(self) -> None:
        """Hand the lead back (a clean stop)."""


class Daemon:
    """Scheduled sweeps, the HTTP endpoint and the stop sequence of ``reaper daemon``."""

    def __init__(
        self,
        settings: Settings,
        kinds: Sequence[ResourceKind],
        metrics: Metrics,
        jobs: Sequence[Job],
        *,
        dry_run: bool,
        config_sha256: str = "",
        notifier: WebhookNotifier | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        pipelines: PipelineStep | None = None,
        signer: StateSigner | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """``pipelines``: the CI-run lookups, one for the daemon's life so ETags last.
        ``leadership``: only sweep while it says this replica leads (None: always)."""
        if not jobs:
            raise ValueError("a daemon needs at least one job")
        self.settings = settings
        self.metrics = metrics
        self.jobs = tuple(jobs)
        self.dry_run = dry_run
        self._kinds = tuple(kinds)
        self._config_sha256 = config_sha256
        self._notifier = notifier
        self._clock = clock
        self._pipelines = pipelines
        self._signer = signer
        self._leadership = leadership
        self._stop = StopFlag()
        """Requested once the daemon stops (a signal): no sweep starts any more."""
        self._flag: StopFlag | None = None
        """The running sweep's own flag: stopped by a signal or by lost leadership."""
        self._halt = threading.Event()
        self._election: threading.Thread | None = None
        """The thread running ``leadership.run`` (joined before the Lease is handed back)."""
        self._leading = leadership is None
        # Held by the one sweep running, whichever job it belongs to; held by the stop
        # sequence once it is over, so that no late job starts.
        self._sweep_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._last: dict[str, SweepStatus] = {}
        self._running: tuple[str, AuditLog | None] | None = None
        # The last record this daemon's sweeps wrote (or found): a trail that ends
        # before it went back, and is refused.
        self._known_head: ChainHead | None = None
        self._signals: list[int] = []
        self._server: _Server | None = None
        self.abandoned = False
        """True once the daemon gave up waiting for a sweep: exit at once (``os._exit``)."""
        self.skipped_runs = Counter(
            "reaper_daemon_skipped_runs_total",
            "Scheduled sweeps not run because another sweep was still running.",
            ["job"],
            registry=metrics.registry,
        )
        self.leader = Gauge(
            "reaper_leader",
            "1 while this replica leads (and may sweep), 0 while it follows.",
            registry=metrics.registry,
        )
        self.leader.set(1 if leadership is None else 0)
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": PoolExecutor(max_workers=len(self.jobs))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- lifecycle -------------------------------------------------------------------

    def run(self) -> int:
        """Start, serve until a stop signal, stop; the exit code. Main thread only.

        Raises OSError when ``daemon.listen`` cannot be bound. When :attr:`abandoned` is
        set on return, a sweep thread may still be inside a cloud call: exit with
        ``os._exit``, not ``sys.exit``, which would wait for it.
        """
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.start()
        return self.wait()

    def start(self) -> None:
        """Bind the HTTP endpoint, start the election and the scheduler; every job's first
        sweep is now (skipped by a follower)."""
        self._server = _Server(parse_listen(self.settings.daemon.listen), self)
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="reaper-http",
            daemon=True,
        ).start()
        if self._leadership is not None:
            self._election = threading.Thread(
                target=self._leadership.run,
                args=(self._halt,),
                name="reaper-election",
                daemon=True,
            )
            self._election.start()
        first = self._clock()
        for job in self.jobs:
            self._scheduler.add_job(
                self.sweep,
                job.trigger,
                args=[job],
                id=job.name,
                name=f"sweep {job.name}",
                next_run_time=first,
            )
        self._scheduler.start()

    def wait(self) -> int:
        """Block until a stop signal, then stop (see the module's docstring).

        Meanwhile, and while a stopping sweep drains, follow the election: a sweep that
        lost its leadership is stopped, and abandoned (exit 1) if it still runs when its
        lease is about to expire.
        """
        while not self._signals:
            time.sleep(_POLL_SECONDS)
            code = self.follow_leadership()
            if code is not None:
                return code
        timeout = self.settings.daemon.shutdown_timeout
        log.info(
            "received %s: no new sweeps; a running sweep stops after its current action "
            "group (up to %s; a second signal abandons it)",
            signal.Signals(self._signals[0]).name,
            format_duration(timeout),
        )
        self._stop.request(STOP_REASON)
        with self._state_lock:
            if self._flag is not None:
                self._flag.request(STOP_REASON)
        self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout.total_seconds()
        while not self._sweep_lock.acquire(timeout=_POLL_SECONDS):
            code = self.follow_leadership()  # a draining leader must not outlive its lease
            if code is not None:
                return code
            if len(self._signals) > 1:
                return self._abandon(f"a second signal ({signal.Signals(self._signals[1]).name})")
            if time.monotonic() >= deadline:
                return self._abandon(f"daemon.shutdown_timeout ({format_duration(timeout)}) passed")
        self._halt.set()
        if self._leadership is not None:
            self._hand_back(self._leadership)
            self.leader.set(0)
        self.close()
        log.info("stopped")
        return ExitCode.OK

    def _hand_back(self, leadership: Leadership) -> None:
        """A clean stop: wait for the election thread to end, then hand the Lease back.

        Released while a renewal was still in flight, the Lease would be taken straight back:
        the renewal meets the release (409 Conflict), reads the Lease nobody holds, and takes
        it. The thread ends within a retry (its requests time out sooner); one still running
        after ``lease_duration`` is left alone, and so is the Lease: it expires.
        """
        thread = self._election
        if thread is not None:
            election = self.settings.daemon.leader_election
            thread.join(election.lease_duration.total_seconds() if election else None)
            if thread.is_alive():
                log.warning(
                    "the leader election did not stop in time: the Lease is not handed back "
                    "and expires"
                )
                return
        leadership.release()

    def close(self) -> None:
        """Stop the HTTP endpoint."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def follow_leadership(self) -> int | None:
        """Act on the election's verdict (called every poll, a stop's drain included); an
        exit code once a sweep had to be abandoned, else None.

        A replica that no longer leads stops its running sweep (after the action group it
        is in) and abandons it once the lease has :data:`_ABANDON_MARGIN_SECONDS` left,
        so that the abandonment ends before another replica can take over.
        """
        if self._leadership is None:
            return None
        leading = self._leadership.is_leader()
        with self._state_lock:
            changed, self._leading = leading != self._leading, leading
            flag = self._flag
        if changed:
            self.leader.set(1 if leading else 0)
            identity = self._leadership.identity
            if not leading:
                log.warning("%s no longer leads: the running sweep stops", identity)
                self.metrics.forget_last_sweep()
            elif self._stop.reason is None:
                log.info("%s leads: sweeping now", identity)
                self._sweep_now()
            else:
                log.info("%s leads again, but the daemon is stopping: no sweep starts", identity)
        if leading or flag is None:
            return None
        flag.request(LEADERSHIP_LOST)
        left = self._leadership.lease_left()
        if left > _ABANDON_MARGIN_SECONDS:
            return None
        if self._sweep_lock.acquire(blocking=False):
            self._sweep_lock.release()  # the sweep ended meanwhile
            return None
        return self._abandon("leadership lost, and the lease is about to expire", within=left)

    def _sweep_now(self) -> None:
        """Run every job now (a replica that just became the leader)."""
        now = self._clock()
        for job in self.jobs:
            try:
                self._scheduler.modify_job(job.name, next_run_time=now)
            except Exception as err:  # the scheduler is not running (tests) or stopping
                log.debug("cannot run job %s now: %s", job.name, err)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only note it: the main loop acts (no locks or logging in a signal handler).
        self._signals.append(signum)

    # -- sweeps ----------------------------------------------------------------------

    def sweep(self, job: Job) -> SweepReport | None:
        """One sweep of ``job``'s providers: the scheduler's job function.

        None when skipped (another sweep runs, or the daemon is stopping) or when the
        sweep failed before it had a report (logged, counted and shown by ``/readyz``).
        """
        if not self._sweep_lock.acquire(blocking=False):
            if self._stop.reason is None:  # else the stop sequence holds the lock
                with self._state_lock:
                    running = self._running[0] if self._running else "?"
                log.warning("job=%s skipped: a sweep of job %s is still running", job.name, running)
                self.skipped_runs.labels(job.name).inc()
            return None
        try:
            if self._stop.reason is not None:
                return None
            if self._leadership is not None and not self._leadership.is_leader():
                log.debug("job=%s not run: this replica does not lead", job.name)
                return None
            return self._sweep(job)
        finally:
            self._sweep_lock.release()

    def _sweep(self, job: Job) -> SweepReport | None:
        now = self._clock()
        flag = StopFlag()
        with self._state_lock:
            self._flag = flag
        if self._stop.reason is not None:  # a signal came in meanwhile
            flag.request(self._stop.reason)
        service = SweepService(
            self.settings,
            [k for k in self._kinds if k.provider in job.providers],
            self._open_audit,
            notifier=self._notifier,
            metrics=self.metrics,
            stop=flag,
            config_sha256=self._config_sha256,
            label=f"job={job.name}",
            pipelines=self._pipelines,
            signer=self._signer,
        )
        with self._state_lock:
            self._running = (job.name, None)
        try:
            report = service.run(now, self.dry_run)
        except ReaperError as err:
            log.error("job=%s sweep failed: %s", job.name, err)
            code = (
                ExitCode.AUDIT_LOCKED if isinstance(err, AuditLocked) else ExitCode.PARTIAL_FAILURE
            )
            self._finished(job, None, code, error=str(err))
            return None
        except Exception as err:
            # A bug: keep the daemon up (the next sweep may do better); /readyz shows it.
            log.exception("job=%s sweep failed", job.name)
            self._finished(
                job, None, ExitCode.PARTIAL_FAILURE, error=f"{type(err).__name__}: {err}"
            )
            return None
        finally:
            self._done_running()
        unresolved = tuple(u.describe() for u in report.unresolved)
        self._finished(job, report.sweep_id, report.exit_code, unresolved=unresolved)
        if self._leadership is not None and not self._leadership.is_leader():
            self.metrics.forget_last_sweep()  # it ended after the lead was lost
        return report

    def _done_running(self) -> None:
        """The sweep is over: remember the last record its trail holds."""
        with self._state_lock:
            audit = self._running[1] if self._running else None
            self._running = None
            self._flag = None
            if audit is not None:
                self._known_head = audit.head

    def _open_audit(self) -> AuditLog:
        """The audit trail of the running sweep, noted for a ``shutdown-abandoned`` record.

        Refused (ChainWentBack) when it ends before the last record this daemon wrote.
        """
        with self._state_lock:
            known = self._known_head
        try:
            audit = build_audit_log(self.settings.audit, known_head=known)
        except AuditError as err:
            # The same class (AuditLocked, ChainWentBack, ...): it decides exit code and metric.
            raise type(err)(f"sweep not started: cannot open the audit trail: {err}") from err
        except ReaperError as err:
            raise ReaperError(f"sweep not started: cannot open the audit trail: {err}") from err
        with self._state_lock:
            if self._running is not None:
                self._running = (self._running[0], audit)
        return audit

    def _finished(
        self,
        job: Job,
        sweep_id: str | None,
        exit_code: int,
        *,
        error: str = "",
        unresolved: tuple[str, ...] | None = None,
    ) -> None:
        with self._state_lock:
            self._last[job.name] = SweepStatus(
                sweep_id, self._clock(), exit_code, error, unresolved
            )

    def _abandon(self, reason: str, within: float | None = None) -> int:
        """Give up on the running sweep: record what is left dangling; exit code 1.

        Waits up to :data:`_ABANDON_WRITE_SECONDS` for the record, and with ``within``
        (seconds until the lease can expire) no longer than leaves :data:`_EXIT_SECONDS`
        of them to exit in.
        """
        self.abandoned = True
        with self._state_lock:
            audit = self._running[1] if self._running else None
            dangling = self._flag.in_flight() if self._flag is not None else []
        record = abandoned_record(reason, dangling, self._clock(), socket.gethostname())
        log.error(
            "abandoning the running sweep: %s; %d actions of unknown outcome%s; the next "
            "sweep's recovery checks them",
            reason,
            len(dangling),
            "".join(f" {_describe_intent(r)}" for r in dangling),
        )
        writer = threading.Thread(
            target=self._write_abandoned, args=(audit, record), name="reaper-abandon"
        )
        writer.daemon = True
        writer.start()
        wait = _ABANDON_WRITE_SECONDS
        if within is not None:
            wait = max(0.0, min(wait, within - _EXIT_SECONDS))
        writer.join(wait)
        if writer.is_alive():
            log.error("the shutdown-abandoned record was not stored within %.1fs", wait)
        return ExitCode.PARTIAL_FAILURE

    @staticmethod
    def _write_abandoned(audit: AuditLog | None, record: Mapping[str, Any]) -> None:
        if audit is None:
            # Still opening its audit trail (or already done with it): no intent is in
            # flight, and a second writer on the chain could fork it.
            log.error("the sweep holds no open audit trail: no shutdown-abandoned record")
            return
        try:
            audit.append([record])
        except ReaperError as err:
            log.error("cannot record the abandoned sweep in the audit trail: %s", err)

    # -- probes ----------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """``/healthz``: the scheduler runs (it stops at the first stop signal)."""
        if self._stop.reason is not None:
            return False, "stopping"
        if not self._scheduler.running:
            return False, "the scheduler is not running"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        """``/readyz``: see :func:`readiness`; not ready while stopping. A follower is
        ready while its election hears from the API server."""
        if self._stop.reason is not None:
            return False, "stopping"
        if self._leadership is not None and not self._leadership.is_leader():
            return self._leadership.status()
        with self._state_lock:
            last = dict(self._last)
        return readiness(self.jobs, last, self.settings.daemon.ready_after_missed, self._clock())

    def describe(self) -> str:
        """The daemon's part of the startup line."""
        d = self.settings.daemon
        election = "off"
        if d.leader_election is not None and self._leadership is not None:
            e = d.leader_election
            election = (
                f"lease={e.lease} identity={self._leadership.identity} "
                f"lease_duration={format_duration(e.lease_duration)} "
                f"renew_deadline={format_duration(e.renew_deadline)} "
                f"retry_period={format_duration(e.retry_period)}"
            )
        return (
            f"listen={d.listen} jobs={'; '.join(j.describe() for j in self.jobs)} "
            f"ready_after_missed={d.ready_after_missed} "
            f"shutdown_timeout={format_duration(d.shutdown_timeout)} leader_election={election}"
        )

    def route(self, path: str) -> tuple[int, str, bytes]:
        """The status, content type and body of a GET of ``path``."""
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)
        if path in ("/healthz", "/readyz"):
            ok, reason = self.health() if path == "/healthz" else self.readiness()
            return (200 if ok else 503), "text/plain; charset=utf-8", f"{reason}\n".encode()
        return 404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz, /readyz\n"


def abandoned_record(
    reason: str, dangling: Sequence[Mapping[str, Any]], now: datetime, host: str
) -> dict[str, Any]:
    """The ``shutdown-abandoned`` audit record. Pure.

    Carries the abandoned sweep's id when intents name it, and each intent without an
    outcome (sweep, resource, action): the next sweep's recovery writes their outcomes.
    """
    keys = ("ts", "sweep_id", "resource", "action", "intended", "reasons", "deadline")
    sweeps = sorted({str(r["sweep_id"]) for r in dangling if "sweep_id" in r})
    record: dict[str, Any] = {
        "event": "shutdown-abandoned",
        "ts": now.isoformat(),
        "actor": {"tool": f"reaper/{__version__}", "host": host},
        "reason": reason,
        "message": (
            "the daemon exited without waiting for the running sweep; the actions below "
            "have an intent and no outcome, and their fate is unknown until the next "
            "sweep's recovery checks each resource"
        ),
        "dangling": [{k: r[k] for k in keys if k in r} for r in dangling],
    }
    if len(sweeps) == 1:
        record["sweep_id"] = sweeps[0]
    return record


def _describe_intent(intent: Mapping[str, Any]) -> str:
    resource = intent.get("resource") or {}
    return (
        f"{intent.get('action')}:{resource.get('provider')}:{resource.get('kind')}:"
        f"{resource.get('id')}@{resource.get('account')}/{resource.get('region')}"
    )


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::]:9095`` for IPv6) as a socket address. Pure."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: Daemon) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"reaper/{__version__}"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        status, content_type, body = self.server.app.route(urlsplit(self.path).path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: probes and scrapes would flood the log."""


__all__ = [
    "LEADERSHIP_LOST",
    "STOP_REASON",
    "Daemon",
    "Job",
    "Leadership",
    "SweepStatus",
    "abandoned_record",
    "make_trigger",
    "parse_listen",
    "plan_jobs",
    "readiness",
    "trigger_period",
]
