"""The sweep service: collect -> plan -> brake -> act -> record. The shell around the pure core.

:class:`SweepService` holds what a sweep needs (settings, kinds, the audit log factory,
notifier, metrics, the stop flag) and does the three things reaper does: ``run`` a sweep,
``apply`` a pinned plan, ``release`` a resource. The CLI, the daemon and the demo all call
it; none of them opens an audit log or logs a summary themselves.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from reaper.actuator import Actuator, StopFlag
from reaper.audit import AuditLog, dangling_intents
from reaper.brake_sync import BrakeSync
from reaper.config import Settings
from reaper.errors import AuditError, NotStarted, ReaperError, SafetyLimitExceeded
from reaper.model import (
    Action,
    Collected,
    CollectError,
    Decision,
    Outcome,
    Plan,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.pinned import PinnedPlan
from reaper.policy import check_brake, decide, make_plan
from reaper.providers.base import ResourceKind
from reaper.records import Event, RecordError, read_intent
from reaper.results import Collection, SweepReport
from reaper.shards import Shard
from reaper.workers import Job, WorkerLimits, account_of, run_jobs

if TYPE_CHECKING:
    from reaper.metrics import Metrics
    from reaper.notify import WebhookNotifier

log = logging.getLogger(__name__)

ScopeDone = Callable[[str, str], None]
"""``on_scope_done(kind_key, scope)``: called as each (kind, scope) is collected."""


class SweepService:
    """Runs sweeps, pinned applies and releases over one set of kinds.

    ``open_audit`` opens the audit trail afresh for each sweep, so the chain head is read
    again every time (a ``reaper release`` between two daemon sweeps continues the chain
    instead of forking it). ``stop`` is the daemon's flag: once requested, no further
    collector starts and no further action group is begun. ``label`` prefixes the summary
    line (``job=default``). ``shard``: collect only the scopes this shard owns (None: all);
    ``brake_sync``: agree on the brake with the other shards before acting (the global brake).
    """

    def __init__(
        self,
        settings: Settings,
        kinds: Sequence[ResourceKind],
        open_audit: Callable[[], AuditLog],
        *,
        notifier: WebhookNotifier | None = None,
        metrics: Metrics | None = None,
        stop: StopFlag | None = None,
        config_sha256: str = "",
        label: str = "",
        shard: Shard | None = None,
        brake_sync: BrakeSync | None = None,
    ) -> None:
        self.settings = settings
        self.kinds = tuple(kinds)
        self.open_audit = open_audit
        self.notifier = notifier
        self.metrics = metrics
        self.stop = stop if stop is not None else StopFlag()
        self.config_sha256 = config_sha256
        self.label = label
        self.shard = shard
        self.brake_sync = brake_sync
        self.limits = WorkerLimits.of(settings)

    # -- the three things reaper does ------------------------------------------------

    def plan(
        self, now: datetime, on_scope_done: ScopeDone | None = None
    ) -> tuple[Plan, Collection, SafetyLimitExceeded | None]:
        """Collect and decide; never changes anything and writes no audit record."""
        collection = collect(self.kinds, self.limits, on_scope_done, self.stop, self.shard)
        plan = make_plan(collection.resources, self.settings.policy, self.settings.tags, now)
        for decision in plan.decisions:
            for warning in decision.warnings:
                log.warning("kind=%s id=%s %s", decision.ref.kind_key, decision.ref.id, warning)
        try:
            check_brake(plan, self.settings.safety)
        except SafetyLimitExceeded as brake:
            return plan, collection, brake
        return plan, collection, None

    def scope_count(self) -> int:
        """How many (kind, scope) collectors a sweep of this service runs."""
        return len(_pairs(self.kinds, self.shard))

    def run(self, now: datetime, dry_run: bool) -> SweepReport:
        """One full sweep. ``now`` is the sweep's single clock reading.

        Raises ReaperError when the audit trail cannot be opened (nothing is done then);
        the sweep is recorded in ``metrics`` either way.
        """
        with self._sweep(dry_run) as sweep:
            sweep.start(**({"shard": str(self.shard)} if self.shard else {}))
            sweep.recover()
            plan, collection, brake = self.plan(now)
            if self.brake_sync is not None:
                brake = self.brake_sync.agree(plan, brake)
            report = sweep.finish(plan, collection, brake, [])
        self._log_summary(report)
        return report

    def apply(self, pinned: PinnedPlan, now: datetime, dry_run: bool) -> SweepReport:
        """Act on exactly the resources of a pinned plan, each re-read and re-decided first.

        A resource that is gone, changed owner or no longer gets the planned action is
        skipped with the reason; nothing outside the plan is ever touched.
        """
        with self._sweep(dry_run) as sweep:
            report = self._apply(sweep, pinned, now)
        self._log_summary(report)
        return report

    def release(self, kind: ResourceKind, resource_id: str) -> Outcome | None:
        """Find a resource by id in the kind's scopes and release it; None if not found."""
        jobs = [
            Job(account_of(kind.provider, scope), partial(kind.get, scope, [resource_id]))
            for scope in kind.scopes()
        ]
        lookups = run_jobs(jobs, self.limits)
        found = [r for f in lookups for r in f.result().resources]
        if not found:
            return None
        with self.open_audit() as audit:
            actuator = self._actuator(audit, uuid.uuid4().hex[:12])
            return actuator.release(kind, found[0])

    # -- the parts -------------------------------------------------------------------

    @contextmanager
    def _sweep(self, dry_run: bool) -> Iterator[_Sweep]:
        """An open audit trail and the bookkeeping of one sweep, measured in metrics."""
        started = time.monotonic()
        try:
            audit = self.open_audit()
        except ReaperError:
            if self.metrics is not None:
                self.metrics.observe_error(0.0)
            raise
        with audit:
            sweep = _Sweep(self, audit, dry_run, started)
            with sweep.measured():
                yield sweep

    def _actuator(self, audit: AuditLog, sweep_id: str) -> Actuator:
        return Actuator(
            self.kinds,
            audit,
            sweep_id,
            self.settings.tags.model_dump().values(),
            self.limits,
            stop=self.stop,
        )

    def _log_summary(self, report: SweepReport) -> None:
        log.info("%s%s", f"{self.label} " if self.label else "", report.summary())

    def _apply(self, sweep: _Sweep, pinned: PinnedPlan, now: datetime) -> SweepReport:
        settings = self.settings
        sweep.start(pinned_plan=pinned.generated_at.isoformat())
        sweep.recover()
        by_key = {k.key(): k for k in self.kinds}
        wanted: dict[tuple[str, Scope], list[str]] = defaultdict(list)
        for item in pinned.items:
            wanted[(item.ref.kind_key, item.ref.scope)].append(item.ref.id)
        found: dict[ResourceRef, Resource] = {}
        errors: list[CollectError] = []
        unreadable: set[tuple[str, Scope]] = set()
        readable = [(key, ids) for key, ids in wanted.items() if key[0] in by_key]
        jobs = [
            Job(
                account_of(by_key[key[0]].provider, key[1]),
                partial(by_key[key[0]].get, key[1], ids),
            )
            for key, ids in readable
        ]
        futures = run_jobs(jobs, self.limits)
        for (key, _), future in zip(readable, futures, strict=True):
            try:
                found.update((r.ref, r) for r in future.result().resources)
            except ReaperError as err:
                errors.append(CollectError(key[0], key[1], str(err)))
                unreadable.add(key)
        decisions: list[Decision] = []
        skipped: list[Outcome] = []
        for item in pinned.items:
            key = (item.ref.kind_key, item.ref.scope)
            current = found.get(item.ref)
            why = ""
            if key[0] not in by_key:
                why = f"kind {key[0]} is not enabled in the config"
            elif key in unreadable:
                why = "could not be re-read"
            elif current is None:
                why = "gone"
            elif current.owner != item.owner:
                why = f"owner changed from {item.owner} to {current.owner}"
            else:
                decision = decide(current, settings.policy, settings.tags, now)
                if decision.action is item.action:
                    decisions.append(decision)
                    continue
                why = f"no longer qualifies: now {decision.action} ({', '.join(decision.reasons)})"
            log.warning("pinned %s %s skipped: %s", item.action, item.ref, why)
            skipped.append(Outcome(item.ref, item.action, Result.SKIPPED, why))
        sweep.actuator.record_skipped(skipped)
        plan = Plan(created_at=now, decisions=tuple(decisions), population=pinned.population)
        collection = Collection((), tuple(errors), 0)
        try:
            check_brake(plan, settings.safety)
        except SafetyLimitExceeded as brake:
            return sweep.finish(plan, collection, brake, skipped)
        return sweep.finish(plan, collection, None, skipped)


def collect(
    kinds: Sequence[ResourceKind],
    limits: WorkerLimits,
    on_scope_done: ScopeDone | None = None,
    stop: StopFlag | None = None,
    shard: Shard | None = None,
) -> Collection:
    """Run every kind's collector in every scope concurrently; failures are kept, not raised.

    ``on_scope_done(kind_key, scope)`` is called as each (kind, scope) finishes (progress).
    Once ``stop`` is requested no further collector starts; the scopes left out are
    collect errors. With ``shard``, only the scopes that shard owns are collected.
    """
    pairs = _pairs(kinds, shard)
    jobs = [
        Job(account_of(kind.provider, scope), partial(_collect_one, kind, scope, on_scope_done))
        for kind, scope in pairs
    ]
    reason = None if stop is None else (lambda: stop.reason)
    futures = run_jobs(jobs, limits, reason)
    resources: list[Resource] = []
    errors: list[CollectError] = []
    skipped = 0
    for (kind, scope), future in zip(pairs, futures, strict=True):
        try:
            collected = future.result()
        except NotStarted as err:
            log.warning("not collected kind=%s scope=%s: %s", kind.key(), scope, err)
            errors.append(CollectError(kind.key(), scope, f"not collected: {err}"))
            continue
        except ReaperError as err:
            log.error("collect failed kind=%s scope=%s: %s", kind.key(), scope, err)
            errors.append(CollectError(kind.key(), scope, str(err)))
            continue
        resources.extend(collected.resources)
        skipped += collected.skipped
        if collected.skipped:
            log.warning(
                "skipped %d unreadable items kind=%s scope=%s",
                collected.skipped,
                kind.key(),
                scope,
            )
    return Collection(tuple(resources), tuple(errors), skipped)


def _pairs(kinds: Sequence[ResourceKind], shard: Shard | None) -> list[tuple[ResourceKind, Scope]]:
    """Every (kind, scope) to collect: all of them, or the ones ``shard`` owns."""
    return [
        (kind, scope)
        for kind in kinds
        for scope in kind.scopes()
        if shard is None or shard.owns(kind.provider, scope)
    ]


def _collect_one(kind: ResourceKind, scope: Scope, on_done: ScopeDone | None) -> Collected:
    try:
        return kind.collect(scope)
    finally:
        if on_done is not None:
            on_done(kind.key(), str(scope))


class _Sweep:
    """The bookkeeping shared by a sweep and a pinned apply: records, action, notices."""

    def __init__(
        self, service: SweepService, audit: AuditLog, dry_run: bool, started: float
    ) -> None:
        # The shell's stopwatch. The sweep's clock reading (the plan's ``created_at``) plus
        # the elapsed time is when it finished, without reading the wall clock again.
        self.started = started
        self.service = service
        self.audit = audit
        self.dry_run = dry_run
        self.sweep_id = uuid.uuid4().hex[:12]
        self.kinds = {k.key(): k for k in service.kinds}
        self.actuator = service._actuator(audit, self.sweep_id)

    @contextmanager
    def measured(self) -> Iterator[None]:
        """Record the sweep in ``metrics`` as an error if the block raises.

        A sweep that finishes is recorded by :meth:`finish`.
        """
        try:
            yield
        except BaseException:
            metrics = self.service.metrics
            if metrics is not None:
                metrics.observe_error(time.monotonic() - self.started)
                self._observe_failures(metrics)
            raise

    def _observe(self, report: SweepReport) -> None:
        metrics = self.service.metrics
        if metrics is None:
            return
        duration = time.monotonic() - self.started
        finished = report.plan.created_at + timedelta(seconds=duration)
        providers = {kind.provider for kind in self.kinds.values()}
        metrics.observe_sweep(report, duration, finished, providers)
        self._observe_failures(metrics)

    def _observe_failures(self, metrics: Metrics) -> None:
        metrics.observe_audit(self.audit)
        if self.service.notifier is not None:
            metrics.observe_notifier(self.service.notifier)

    def start(self, **fields: Any) -> None:
        self.audit.append(
            [
                self.actuator.sweep_record(
                    Event.SWEEP_START,
                    dry_run=self.dry_run,
                    config_sha256=self.service.config_sha256,
                    **fields,
                )
            ]
        )

    def recover(self) -> None:
        """Complete the intents an earlier run left without an outcome (it crashed).

        A delete whose resource is gone went through; anything else is recorded as not
        performed, and this sweep's plan decides about the resource afresh. No action is
        repeated here.
        """
        path = self.service.settings.audit.path
        if path is None:
            return
        try:
            dangling = dangling_intents(path)
        except AuditError as err:
            log.error("cannot look for interrupted actions in %s: %s", path, err)
            return
        for record in dangling:
            try:
                intent = read_intent(record)
            except RecordError as err:
                log.warning("unreadable dangling intent seq=%s: %s", record.get("seq"), err)
                continue
            ref = intent.ref
            kind = self.kinds.get(ref.kind_key)
            result, message = Result.SKIPPED, "interrupted before the action; planned afresh"
            if kind is None:
                message = f"interrupted; kind {ref.kind_key} is not enabled now"
            else:
                try:
                    present = bool(kind.get(ref.scope, [ref.id]).resources)
                except ReaperError as err:
                    log.error(
                        "cannot re-read %s after an interrupted %s: %s", ref, intent.action, err
                    )
                    continue
                if not present and intent.action == str(Action.DELETE):
                    result, message = Result.ALREADY_GONE, "interrupted; the delete went through"
                elif not present:
                    result, message = Result.ALREADY_GONE, "interrupted; the resource is gone"
            log.warning("recovered interrupted %s on %s: %s", intent.action, ref, message)
            self.audit.append([self.actuator.recovered_record(record, result, message)])

    def finish(
        self,
        plan: Plan,
        collection: Collection,
        brake: SafetyLimitExceeded | None,
        skipped: Sequence[Outcome],
    ) -> SweepReport:
        outcomes: list[Outcome] = list(skipped)
        if brake is not None:
            log.error("%s; nothing was done", brake)
            self.audit.append(
                [
                    self.actuator.sweep_record(
                        Event.SAFETY_BRAKE,
                        dry_run=self.dry_run,
                        reasons=list(brake.reasons),
                        counts=[vars(c) for c in brake.counts],
                    )
                ]
            )
        else:
            outcomes += self.actuator.execute(plan, self.dry_run)
        for decision in plan.decisions:
            if decision.escalated:
                log.warning(
                    "escalated kind=%s id=%s failures=%d: reaper keeps failing to %s it",
                    decision.ref.kind_key,
                    decision.ref.id,
                    decision.failures,
                    decision.intended or decision.action,
                )
        report = SweepReport(self.sweep_id, plan, collection, self.dry_run, tuple(outcomes), brake)
        self.audit.append(
            [
                self.actuator.sweep_record(
                    Event.SWEEP_END,
                    dry_run=self.dry_run,
                    exit_code=int(report.exit_code),
                    collect_errors=[
                        f"{e.kind_key} {e.scope}: {e.message}" for e in collection.errors
                    ],
                    summary=report.summary(),
                )
            ]
        )
        self._notify(report)
        self._observe(report)
        return report

    def _notify(self, report: SweepReport) -> None:
        notifier = self.service.notifier
        if notifier is None or report.dry_run:
            return
        settings = self.service.settings
        done = {o.ref for o in report.outcomes if o.result is Result.DONE}
        marked = [d for d in report.plan.decisions if d.action is Action.MARK and d.ref in done]
        if marked and settings.notify.on_mark:
            notifier.notify_marked(marked, report.plan.created_at)
        if settings.notify.summary:
            notifier.notify_summary(report)


__all__ = ["ScopeDone", "SweepService", "collect"]
