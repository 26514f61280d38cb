"""One sweep: collect -> plan -> brake -> act -> record. The shell around the pure core."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from reaper.actuator import Actuator, current_stop
from reaper.audit import AuditLog, dangling_intents
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
from reaper.notify import WebhookNotifier
from reaper.pinned import PinnedPlan
from reaper.policy import check_brake, decide, make_plan
from reaper.providers.base import ResourceKind
from reaper.workers import Job, WorkerLimits, account_of, run_jobs

if TYPE_CHECKING:
    from reaper.metrics import Metrics

log = logging.getLogger(__name__)


class ExitCode:
    OK = 0
    PARTIAL_FAILURE = 1
    USAGE = 2
    SAFETY_BRAKE = 3


@dataclass(frozen=True)
class Collection:
    """Everything the collectors returned in one sweep."""

    resources: tuple[Resource, ...]
    errors: tuple[CollectError, ...]
    skipped: int


@dataclass(frozen=True)
class SweepReport:
    """What a sweep saw, decided and did."""

    sweep_id: str
    plan: Plan
    collection: Collection
    dry_run: bool
    outcomes: tuple[Outcome, ...] = ()
    brake: SafetyLimitExceeded | None = None

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.result is Result.FAILED)

    @property
    def exit_code(self) -> int:
        if self.brake is not None:
            return ExitCode.SAFETY_BRAKE
        if self.collection.errors or self.failed:
            return ExitCode.PARTIAL_FAILURE
        return ExitCode.OK

    def summary(self) -> str:
        """The one log line per sweep."""
        plan = self.plan
        counts = " ".join(f"{a}={plan.count(a)}" for a in Action)
        results: dict[str, int] = {}
        for outcome in self.outcomes:
            results[outcome.result] = results.get(outcome.result, 0) + 1
        done = " ".join(f"{k}={v}" for k, v in sorted(results.items())) or "none"
        return (
            f"sweep={self.sweep_id} dry_run={str(self.dry_run).lower()} "
            f"resources={len(plan.decisions)} {counts} outcomes[{done}] "
            f"collect_errors={len(self.collection.errors)} skipped={self.collection.skipped} "
            f"brake={'tripped' if self.brake else 'ok'} exit={self.exit_code}"
        )


def collect(
    kinds: Sequence[ResourceKind],
    max_workers: int = 8,
    on_scope_done: Callable[[str, str], None] | None = None,
    per_account: int | None = None,
) -> Collection:
    """Run every kind's collector in every scope concurrently; failures are kept, not raised.

    ``on_scope_done(kind_key, scope)`` is called as each (kind, scope) finishes (progress).
    At most ``per_account`` collectors run on one account at once. Under a requested stop
    (:func:`reaper.actuator.stopped_by`) no further collector starts; the scopes left out
    are collect errors.
    """
    pairs = [(kind, scope) for kind in kinds for scope in kind.scopes()]
    jobs = [
        Job(account_of(kind.provider, scope), partial(_collect_one, kind, scope, on_scope_done))
        for kind, scope in pairs
    ]
    flag = current_stop()
    stop = None if flag is None else (lambda: flag.reason)
    futures = run_jobs(jobs, max_workers, per_account, stop)
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


def _collect_one(
    kind: ResourceKind, scope: Scope, on_done: Callable[[str, str], None] | None
) -> Collected:
    try:
        return kind.collect(scope)
    finally:
        if on_done is not None:
            on_done(kind.key(), str(scope))


def plan_sweep(
    settings: Settings,
    kinds: Sequence[ResourceKind],
    now: datetime,
    on_scope_done: Callable[[str, str], None] | None = None,
) -> tuple[Plan, Collection, SafetyLimitExceeded | None]:
    """Collect and decide; never changes anything."""
    limits = WorkerLimits.of(settings)
    collection = collect(kinds, limits.total, on_scope_done, limits.per_account)
    plan = make_plan(collection.resources, settings.policy, settings.tags, now)
    for decision in plan.decisions:
        for warning in decision.warnings:
            log.warning("kind=%s id=%s %s", decision.ref.kind_key, decision.ref.id, warning)
    try:
        check_brake(plan, settings.safety)
    except SafetyLimitExceeded as brake:
        return plan, collection, brake
    return plan, collection, None


def run_sweep(
    settings: Settings,
    kinds: Sequence[ResourceKind],
    audit: AuditLog,
    now: datetime,
    dry_run: bool,
    config_sha256: str = "",
    notifier: WebhookNotifier | None = None,
    metrics: Metrics | None = None,
) -> SweepReport:
    """One full sweep. ``now`` is the sweep's single clock reading.

    With ``metrics``, the sweep is recorded there when it ends, or as an error if it raises.
    """
    sweep = _Sweep(settings, kinds, audit, dry_run, config_sha256, notifier, metrics)
    with sweep.measured():
        sweep.start()
        sweep.recover()
        plan, collection, brake = plan_sweep(settings, kinds, now)
        return sweep.finish(plan, collection, brake, [])


def apply_pinned(
    settings: Settings,
    kinds: Sequence[ResourceKind],
    audit: AuditLog,
    pinned: PinnedPlan,
    now: datetime,
    dry_run: bool,
    config_sha256: str = "",
    notifier: WebhookNotifier | None = None,
    metrics: Metrics | None = None,
) -> SweepReport:
    """Act on exactly the resources of a pinned plan, each re-read and re-decided first.

    A resource that is gone, changed owner or no longer gets the planned action is
    skipped with the reason; nothing outside the plan is ever touched. ``metrics`` as for
    :func:`run_sweep`.
    """
    sweep = _Sweep(settings, kinds, audit, dry_run, config_sha256, notifier, metrics)
    with sweep.measured():
        return _apply_pinned(sweep, settings, kinds, pinned, now)


def _apply_pinned(
    sweep: _Sweep,
    settings: Settings,
    kinds: Sequence[ResourceKind],
    pinned: PinnedPlan,
    now: datetime,
) -> SweepReport:
    sweep.start(pinned_plan=pinned.generated_at.isoformat())
    sweep.recover()
    by_key = {k.key(): k for k in kinds}
    wanted: dict[tuple[str, Scope], list[str]] = defaultdict(list)
    for item in pinned.items:
        wanted[(item.ref.kind_key, item.ref.scope)].append(item.ref.id)
    found: dict[ResourceRef, Resource] = {}
    errors: list[CollectError] = []
    unreadable: set[tuple[str, Scope]] = set()
    readable = [(key, ids) for key, ids in wanted.items() if key[0] in by_key]
    jobs = [
        Job(account_of(by_key[key[0]].provider, key[1]), partial(by_key[key[0]].get, key[1], ids))
        for key, ids in readable
    ]
    limits = sweep.limits
    futures = run_jobs(jobs, limits.total, limits.per_account)
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
    try:
        check_brake(plan, settings.safety)
    except SafetyLimitExceeded as brake:
        return sweep.finish(plan, Collection((), tuple(errors), 0), brake, skipped)
    return sweep.finish(plan, Collection((), tuple(errors), 0), None, skipped)


def release_resource(
    settings: Settings, kind: ResourceKind, resource_id: str, audit: AuditLog
) -> Outcome | None:
    """Find a resource by id in the kind's scopes and release it; None if not found."""
    limits = WorkerLimits.of(settings)
    jobs = [
        Job(account_of(kind.provider, scope), partial(kind.get, scope, [resource_id]))
        for scope in kind.scopes()
    ]
    lookups = run_jobs(jobs, limits.total, limits.per_account)
    found = [r for f in lookups for r in f.result().resources]
    if not found:
        return None
    actuator = Actuator([kind], audit, uuid.uuid4().hex[:12], settings.tags.model_dump().values())
    return actuator.release(kind, found[0])


class _Sweep:
    """The bookkeeping shared by a sweep and a pinned apply: records, action, notices."""

    def __init__(
        self,
        settings: Settings,
        kinds: Sequence[ResourceKind],
        audit: AuditLog,
        dry_run: bool,
        config_sha256: str,
        notifier: WebhookNotifier | None,
        metrics: Metrics | None = None,
    ) -> None:
        # The shell's stopwatch. The sweep's clock reading (the plan's ``created_at``) plus
        # the elapsed time is when it finished, without reading the wall clock again.
        self.started = time.monotonic()
        self.metrics = metrics
        self.settings = settings
        self.kinds = {k.key(): k for k in kinds}
        self.audit = audit
        self.dry_run = dry_run
        self.config_sha256 = config_sha256
        self.notifier = notifier
        self.sweep_id = uuid.uuid4().hex[:12]
        self.limits = WorkerLimits.of(settings)
        self.actuator = Actuator(
            kinds,
            audit,
            self.sweep_id,
            settings.tags.model_dump().values(),
            self.limits.total,
            per_account=self.limits.per_account,
        )

    @contextmanager
    def measured(self) -> Iterator[None]:
        """Record the sweep in ``metrics``: as an error if the block raises.

        A sweep that finishes is recorded by :meth:`finish`.
        """
        try:
            yield
        except BaseException:
            if self.metrics is not None:
                self.metrics.observe_error(time.monotonic() - self.started)
                self._observe_failures(self.metrics)
            raise

    def _observe(self, report: SweepReport) -> None:
        if self.metrics is None:
            return
        duration = time.monotonic() - self.started
        finished = report.plan.created_at + timedelta(seconds=duration)
        providers = {kind.provider for kind in self.kinds.values()}
        self.metrics.observe_sweep(report, duration, finished, providers)
        self._observe_failures(self.metrics)

    def _observe_failures(self, metrics: Metrics) -> None:
        metrics.observe_audit(self.audit)
        if self.notifier is not None:
            metrics.observe_notifier(self.notifier)

    def start(self, **fields: Any) -> None:
        self.audit.append(
            [
                self.actuator.sweep_record(
                    "sweep-start",
                    dry_run=self.dry_run,
                    config_sha256=self.config_sha256,
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
        path = self.settings.audit.path
        if path is None:
            return
        try:
            dangling = dangling_intents(path)
        except AuditError as err:
            log.error("cannot look for interrupted actions in %s: %s", path, err)
            return
        for intent in dangling:
            resource = intent.get("resource") or {}
            try:
                ref = ResourceRef(
                    str(resource["provider"]),
                    str(resource["kind"]),
                    Scope(str(resource["account"]), str(resource["region"])),
                    str(resource["id"]),
                )
            except KeyError:
                log.warning("unreadable dangling intent seq=%s", intent.get("seq"))
                continue
            kind = self.kinds.get(ref.kind_key)
            result, message = Result.SKIPPED, "interrupted before the action; planned afresh"
            if kind is None:
                message = f"interrupted; kind {ref.kind_key} is not enabled now"
            else:
                try:
                    present = bool(kind.get(ref.scope, [ref.id]).resources)
                except ReaperError as err:
                    log.error(
                        "cannot re-read %s after an interrupted %s: %s",
                        ref,
                        intent.get("action"),
                        err,
                    )
                    continue
                if not present and intent.get("action") == str(Action.DELETE):
                    result, message = Result.ALREADY_GONE, "interrupted; the delete went through"
                elif not present:
                    result, message = Result.ALREADY_GONE, "interrupted; the resource is gone"
            log.warning("recovered interrupted %s on %s: %s", intent.get("action"), ref, message)
            self.audit.append([self.actuator.recovered_record(intent, result, message)])

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
                        "safety-brake",
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
                    "sweep-end",
                    dry_run=self.dry_run,
                    exit_code=report.exit_code,
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
        if self.notifier is None or report.dry_run:
            return
        done = {o.ref for o in report.outcomes if o.result is Result.DONE}
        marked = [d for d in report.plan.decisions if d.action is Action.MARK and d.ref in done]
        if marked and self.settings.notify.on_mark:
            self.notifier.notify_marked(marked, report.plan.created_at)
        if self.settings.notify.summary:
            self.notifier.notify_summary(report)


__all__ = [
    "Collection",
    "ExitCode",
    "Scope",
    "SweepReport",
    "apply_pinned",
    "collect",
    "plan_sweep",
    "run_sweep",
]
