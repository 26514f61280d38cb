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
from typing import Any
from urllib.parse import urlsplit

from apscheduler.executors.pool import (  # type: ignore[import-untyped]
    ThreadPoolExecutor as PoolExecutor,
)
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from reaper import __version__
from reaper.actuator import StopFlag
from reaper.app import SweepService
from reaper.audit import AuditLog, ChainHead
from reaper.audit.build import build_audit_log
from reaper.config import Schedule, Settings
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
DEFAULT_JOB = "default"
_POLL_SECONDS = 0.1
_ABANDON_WRITE_SECONDS = 2.0
"""How long an abandoning daemon waits for its ``shutdown-abandoned`` record to be stored."""


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
    ) -> None:
        """``pipelines``: the CI-run lookups, one for the daemon's life so ETags last."""
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
        self._stop = StopFlag()
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
        """Bind the HTTP endpoint and start the scheduler; every job's first sweep is now."""
        self._server = _Server(parse_listen(self.settings.daemon.listen), self)
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="reaper-http",
            daemon=True,
        ).start()
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
        """Block until a stop signal, then stop (see the module's docstring)."""
        while not self._signals:
            time.sleep(_POLL_SECONDS)
        timeout = self.settings.daemon.shutdown_timeout
        log.info(
            "received %s: no new sweeps; a running sweep stops after its current action "
            "group (up to %s; a second signal abandons it)",
            signal.Signals(self._signals[0]).name,
            format_duration(timeout),
        )
        self._stop.request(STOP_REASON)
        self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + timeout.total_seconds()
        while not self._sweep_lock.acquire(timeout=_POLL_SECONDS):
            if len(self._signals) > 1:
                return self._abandon(f"a second signal ({signal.Signals(self._signals[1]).name})")
            if time.monotonic() >= deadline:
                return self._abandon(f"daemon.shutdown_timeout ({format_duration(timeout)}) passed")
        self.close()
        log.info("stopped")
        return ExitCode.OK

    def close(self) -> None:
        """Stop the HTTP endpoint."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

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
            return self._sweep(job)
        finally:
            self._sweep_lock.release()

    def _sweep(self, job: Job) -> SweepReport | None:
        now = self._clock()
        service = SweepService(
            self.settings,
            [k for k in self._kinds if k.provider in job.providers],
            self._open_audit,
            notifier=self._notifier,
            metrics=self.metrics,
            stop=self._stop,
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
        return report

    def _done_running(self) -> None:
        """The sweep is over: remember the last record its trail holds."""
        with self._state_lock:
            audit = self._running[1] if self._running else None
            self._running = None
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

    def _abandon(self, reason: str) -> int:
        """Give up on the running sweep: record what is left dangling; exit code 1."""
        self.abandoned = True
        dangling = self._stop.in_flight()
        with self._state_lock:
            audit = self._running[1] if self._running else None
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
        writer.join(_ABANDON_WRITE_SECONDS)
        if writer.is_alive():
            log.error(
                "the shutdown-abandoned record was not stored within %gs", _ABANDON_WRITE_SECONDS
            )
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
        """``/readyz``: see :func:`readiness`; not ready while stopping."""
        if self._stop.reason is not None:
            return False, "stopping"
        with self._state_lock:
            last = dict(self._last)
        return readiness(self.jobs, last, self.settings.daemon.ready_after_missed, self._clock())

    def describe(self) -> str:
        """The daemon's part of the startup line."""
        d = self.settings.daemon
        return (
            f"listen={d.listen} jobs={'; '.join(j.describe() for j in self.jobs)} "
            f"ready_after_missed={d.ready_after_missed} "
            f"shutdown_timeout={format_duration(d.shutdown_timeout)}"
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
    "STOP_REASON",
    "Daemon",
    "Job",
    "SweepStatus",
    "abandoned_record",
    "make_trigger",
    "parse_listen",
    "plan_jobs",
    "readiness",
    "trigger_period",
]
