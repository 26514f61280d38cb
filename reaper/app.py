"""The sweep service: collect -> plan -> brake -> act -> record. The shell around the pure core.

:class:`SweepService` holds what a sweep needs (settings, kinds, the audit log factory,
notifier, metrics, the stop flag) and does the three things reaper does: ``run`` a sweep,
``apply`` a pinned plan, ``release`` a resource. The CLI, the daemon and the demo all call
it; none of them opens an audit log or logs a summary themselves.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from reaper.actuator import Actuator, StopFlag
from reaper.audit import AuditLog
from reaper.brake_sync import BrakeSync
from reaper.config import Settings
from reaper.errors import NotStarted, ReaperError, SafetyLimitExceeded, TrailRefused
from reaper.lifecycle import LifecycleTagError, State, StateSigner, read_lifecycle
from reaper.model import (
    Action,
    Collected,
    CollectError,
    Decision,
    Outcome,
    Plan,
    Reason,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.pinned import PinnedPlan, refuse_outside_scope
from reaper.pipelines.facts import INVALID_TAG, PipelineStep, Prepared
from reaper.policy import check_brake, decide, make_plan, pipeline_population
from reaper.providers.base import ResourceKind
from reaper.records import Event, RecordError, Unresolved, action_key, read_intent
from reaper.results import Collection, SweepReport
from reaper.shards import Shard, owner, scope_key
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
    ``pipelines`` runs between collecting and planning: it looks up
    the CI runs the resources name (``reaper.pipelines.facts``); keep one for a process's
    life so its ETags last across sweeps.
    ``signer`` verifies and signs reaper's lifecycle tags; by default its key comes from
    the environment variable ``safety.state_key_env`` names.
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
        pipelines: PipelineStep | None = None,
        signer: StateSigner | None = None,
        shard: Shard | None = None,
        brake_sync: BrakeSync | None = None,
    ) -> None:
        self.settings = settings
        self.pipelines = pipelines
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
        self.signer = signer or StateSigner.for_settings(settings, os.environ)

    # -- the three things reaper does ------------------------------------------------

    def plan(
        self, now: datetime, on_scope_done: ScopeDone | None = None
    ) -> tuple[Plan, Collection, SafetyLimitExceeded | None]:
        """Collect and decide; never changes anything and writes no audit record."""
        collection = collect(self.kinds, self.limits, on_scope_done, self.stop, self.shard)
        prepared = self._prepare(collection.resources, now)
        settings = self.settings
        plan = make_plan(prepared.resources, prepared.policy, settings.tags, now, self.signer)
        if prepared.population is not None:
            plan = replace(plan, population=prepared.population)
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
            sweep.recover(
                now,
                "this dry run only plans it; the next applied sweep decides about it afresh"
                if dry_run
                else "",
            )
            plan, collection, brake = self.plan(now)
            if self.brake_sync is not None:
                brake = self.brake_sync.agree(plan, brake)
            report = sweep.finish(plan, collection, brake, [])
        self._log_summary(report)
        return report

    def apply(self, pinned: PinnedPlan, now: datetime, dry_run: bool) -> SweepReport:
        """Act on exactly the resources of a pinned plan, each re-read and re-decided first.

        The plan only names resources: the kinds and scopes it names are collected afresh,
        and each item is decided from that live state and the current config. A resource
        that is gone, changed owner or no longer gets the planned action is skipped with
        the reason; nothing outside the plan is ever touched. The safety brake measures
        against the live pipeline population of those kinds and scopes, not the plan's.

        Raises PlanRefused, before anything is done (no audit record, no API call), when
        an item lies outside the configured kinds, accounts and regions, or, for a shard,
        in a scope another shard sweeps (a shard acts only under its own trail's lock).
        """
        self.check_scope(pinned)
        with self._sweep(dry_run) as sweep:
            report = self._apply(sweep, pinned, now)
        self._log_summary(report)
        return report

    def check_scope(self, pinned: PinnedPlan) -> None:
        """Raise PlanRefused naming every item outside the configured kinds and scopes, or,
        for a shard, in a scope another shard sweeps."""
        scopes = {kind.key(): kind.resource_scopes() for kind in self.kinds}
        refuse_outside_scope(pinned, scopes, self.shard, self.sweep_scope)

    def sweep_scope(self, ref: ResourceRef) -> Scope:
        """The scope whose collection finds ``ref``: what a shard owns. Its own scope for a
        kind that is not configured (nothing sweeps it)."""
        kind = next((k for k in self.kinds if k.key() == ref.kind_key), None)
        return ref.scope if kind is None else kind.sweep_scope(ref.scope)

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
        refusal = self._not_releasable(found[0])
        with self.open_audit() as audit:
            actuator = self._actuator(audit, uuid.uuid4().hex[:12])
            if refusal:
                log.error("release of %s refused: %s", found[0].ref, refusal)
                refused = Outcome(
                    found[0].ref, Action.RELEASE, Result.FAILED, f"refused: {refusal}"
                )
                actuator.record_skipped([refused])
                return refused
            return actuator.release(kind, found[0])

    # -- the parts -------------------------------------------------------------------

    def _prepare(self, resources: Sequence[Resource], now: datetime) -> Prepared:
        """The pipeline step's view of the collected resources; they as they are without one."""
        if self.pipelines is None:
            return Prepared(tuple(resources), self.settings.policy)
        prepared = self.pipelines.prepare(resources, self.settings.policy, now)
        if self.metrics is not None:
            stats = prepared.stats
            unknown = {str(reason): n for reason, n in stats.unknown_reasons.items()}
            if prepared.invalid:
                unknown[INVALID_TAG] = prepared.invalid
            self.metrics.observe_run_lookups(
                requests=stats.requests,
                not_modified=stats.not_modified,
                throttled=stats.throttled,
                waited_seconds=stats.waited_seconds,
                states={str(state): n for state, n in stats.states.items()},
                unknown=unknown,
            )
        return prepared

    def _not_releasable(self, resource: Resource) -> str:
        """Why a resource may not be released, or "": only what reaper itself quarantined.

        Release restores what the resource's tags record; tags anyone could write must not
        choose security groups or sizes, so they count only when pipeline-tagged and
        signed by reaper, with a quarantined state.
        """
        if self.settings.tags.pipeline not in resource.tags:
            return f"it has no {self.settings.tags.pipeline} tag; reaper never touches it"
        if not self.signer.verify(resource.ref, resource.tags):
            return (
                "its reaper-* tags are not signed with the state key: reaper did not write "
                "them, so they cannot say what to restore"
            )
        try:
            state = read_lifecycle(resource.tags).state
        except LifecycleTagError as err:
            return str(err)
        if state is not State.QUARANTINED:
            return "reaper did not quarantine it (its signed state is not quarantined)"
        return ""

    @contextmanager
    def _sweep(self, dry_run: bool) -> Iterator[_Sweep]:
        """An open audit trail and the bookkeeping of one sweep, measured in metrics."""
        started = time.monotonic()
        try:
            audit = self.open_audit()
        except ReaperError as err:
            if self.metrics is not None:
                self.metrics.observe_error(0.0)
                if isinstance(err, TrailRefused):
                    self.metrics.observe_refusal(err)
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
            signer=self.signer,
        )

    def _log_summary(self, report: SweepReport) -> None:
        log.info("%s%s", f"{self.label} " if self.label else "", report.summary())

    def _apply(self, sweep: _Sweep, pinned: PinnedPlan, now: datetime) -> SweepReport:
        settings = self.settings
        sweep.start(pinned_plan=pinned.generated_at.isoformat())
        sweep.recover(
            now,
            "this dry run acts on nothing"
            if sweep.dry_run
            else "this apply acts on it only if the pinned plan names it and it still qualifies",
        )
        by_key = {k.key(): k for k in self.kinds}
        # Every (kind, scope) the plan names is collected whole: its live pipeline
        # population is what the brake measures against.
        named = dict.fromkeys((item.ref.kind_key, item.ref.scope) for item in pinned.items)
        collection = _collect_pairs(
            [(by_key[key], scope) for key, scope in named], self.limits, None, self.stop
        )
        found = {r.ref: r for r in collection.resources}
        unreadable = {(e.kind_key, e.scope) for e in collection.errors}
        # Re-decided with fresh run facts: a run may have been re-run since the plan.
        found = {r.ref: r for r in self._prepare(list(found.values()), now).resources}
        decisions: list[Decision] = []
        skipped: list[Outcome] = []
        for item in pinned.items:
            current = found.get(item.ref)
            why = ""
            kind = by_key[item.ref.kind_key]
            malformed = kind.id_problem(item.ref.id)
            if malformed is not None:
                why = malformed
            elif (item.ref.kind_key, item.ref.scope) in unreadable:
                why = "could not be re-read"
            elif current is None:
                why = "gone"
            elif current.owner != item.owner:
                why = f"owner changed from {item.owner} to {current.owner}"
            else:
                decision = decide(current, settings.policy, settings.tags, now, self.signer)
                if decision.action is item.action:
                    decisions.append(decision)
                    continue
                why = f"no longer qualifies: now {decision.action} ({', '.join(decision.reasons)})"
            log.warning("pinned %s %s skipped: %s", item.action, item.ref, why)
            skipped.append(Outcome(item.ref, item.action, Result.SKIPPED, why))
        sweep.actuator.record_skipped(skipped)
        population = pipeline_population(collection.resources, settings.tags)
        plan = Plan(created_at=now, decisions=tuple(decisions), population=population)
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
    return _collect_pairs(pairs, limits, on_scope_done, stop)


def _collect_pairs(
    pairs: Sequence[tuple[ResourceKind, Scope]],
    limits: WorkerLimits,
    on_scope_done: ScopeDone | None,
    stop: StopFlag | None,
) -> Collection:
    """``collect`` for the given (kind, scope) pairs (each kind told first, once)."""
    for kind in {id(kind): kind for kind, _ in pairs}.values():
        kind.begin_collection()
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
        for error in collected.errors:
            log.error(
                "collect failed kind=%s scope=%s: %s", error.kind_key, error.scope, error.message
            )
        errors.extend(collected.errors)
        if collected.skipped:
            log.warning(
                "skipped %d unreadable items kind=%s scope=%s",
                collected.skipped,
                kind.key(),
                scope,
            )
    return Collection(tuple(resources), tuple(errors), skipped)


def _pairs(kinds: Sequence[ResourceKind], shard: Shard | None) -> list[tuple[ResourceKind, Scope]]:
    """Every (kind, scope) to collect: all of them, or the ones ``shard`` owns and those every
    shard collects (``ResourceKind.is_shared``: a failed organization listing, which each
    shard whose own listing failed must report)."""
    return [
        (kind, scope)
        for kind in kinds
        for scope in kind.scopes()
        if shard is None or kind.is_shared(scope) or shard.owns(kind.provider, scope)
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
        # Why each intent recovery could not complete is still open, by action_key.
        self.unresolved: dict[tuple[str, ...], str] = {}

    @contextmanager
    def measured(self) -> Iterator[None]:
        """Record the sweep in ``metrics`` as an error if the block raises.

        A sweep that finishes is recorded by :meth:`finish`.
        """
        try:
            yield
        except BaseException as err:
            metrics = self.service.metrics
            if metrics is not None:
                metrics.observe_error(time.monotonic() - self.started)
                if isinstance(err, TrailRefused):
                    metrics.observe_refusal(err)
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

    def recover(self, now: datetime, next_step: str) -> None:
        """Complete the intents the trail holds without an outcome: actions of unknown fate.

        They come from the audit log, which read them back from the sink the chain
        continues from (the bucket, for a pod whose local file is new), as far as the
        last ``sweep-end``: the intents of a run that crashed, and those earlier
        recoveries could not complete. Each resource is re-read: a delete whose resource
        is gone went through (``already-gone``); a quarantine that reads back complete is
        ``done``; anything else is recorded as ``skipped``, saying what happens to the
        resource now: ``next_step`` when given, else what this sweep's plan makes of it
        (decided as the plan will, at ``now``; a quarantine cut short is quarantined
        again). No action is repeated here. An intent whose resource cannot be re-read
        (the API is down, its kind is not swept by this run) stays open, and this sweep's
        ``sweep-end`` carries it, with why, to the next sweep's recovery.
        """
        for record in self.audit.open_intents:
            key = action_key(record)
            try:
                intent = read_intent(record)
            except RecordError as err:
                log.warning("unreadable open intent seq=%s: %s", record.get("seq"), err)
                self.unresolved[key] = f"unreadable intent record: {err}"
                continue
            ref = intent.ref
            kind = self.kinds.get(ref.kind_key)
            if kind is None:
                self.unresolved[key] = f"not checked: kind {ref.kind_key} is not swept by this run"
                log.warning(
                    "interrupted %s on %s left open: %s", intent.action, ref, self.unresolved[key]
                )
                continue
            try:
                found = kind.get(ref.scope, [ref.id]).resources
            except ReaperError as err:
                self.unresolved[key] = f"cannot re-read the resource: {err}"
                log.error(
                    "cannot re-read %s after an interrupted %s (left open for the next sweep): %s",
                    ref,
                    intent.action,
                    err,
                )
                continue
            result, message = self._after(intent.action, found, now, self._next(ref, next_step))
            log.warning("recovered interrupted %s on %s: %s", intent.action, ref, message)
            self.audit.append([self.actuator.recovered_record(record, result, message)])

    def _next(self, ref: ResourceRef, next_step: str) -> str:
        """``next_step``, or for a shard whose count changed since the intent, who decides
        about the resource now that another shard sweeps its scope."""
        shard = self.service.shard
        swept = self.service.sweep_scope(ref)
        if next_step or shard is None or shard.owns(ref.provider, swept):
            return next_step
        other = owner(scope_key(ref.provider, swept), shard.count)
        return f"its scope is now shard {other}/{shard.count}'s, whose sweeps decide about it"

    def _after(
        self, action: str, found: Sequence[Resource], now: datetime, next_step: str
    ) -> tuple[Result, str]:
        """The result and message of an interrupted action, from the resource as it is now."""
        if not found or action == Action.RELEASE:
            return recovery_outcome(action, bool(found), next_step)
        settings, signer = self.service.settings, self.service.signer
        decision = decide(found[0], settings.policy, settings.tags, now, signer)
        if action == Action.QUARANTINE and Reason.QUARANTINED in decision.reasons:
            return (
                Result.DONE,
                "interrupted after the quarantine was complete: it reads back isolated",
            )
        if not next_step:
            reasons = ", ".join(decision.reasons)
            if decision.action is Action.KEEP:
                next_step = f"as it is now, this sweep keeps it ({reasons})"
            else:
                again = " again" if decision.action == action else ""
                next_step = f"this sweep plans to {decision.action} it{again} ({reasons})"
        return recovery_outcome(action, True, next_step)

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
                why = (
                    f"failures={decision.failures}: reaper keeps failing to "
                    f"{decision.intended or decision.action} it"
                    if decision.failures
                    else "; ".join(decision.warnings)  # stuck on the provider's side
                )
                log.warning(
                    "escalated kind=%s id=%s %s", decision.ref.kind_key, decision.ref.id, why
                )
        still_open = self.audit.open_intents
        unresolved = tuple(
            Unresolved.of(i, self.unresolved.get(action_key(i), "")) for i in still_open
        )
        for item in unresolved:
            log.error("unresolved intent %s", item.describe())
        report = SweepReport(
            self.sweep_id, plan, collection, self.dry_run, tuple(outcomes), brake, unresolved
        )
        self.audit.append(
            [
                self.actuator.sweep_end_record(
                    still_open,
                    self.unresolved,
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


def recovery_outcome(action: str, present: bool, next_step: str) -> tuple[Result, str]:
    """What became of an interrupted action, from whether its resource is still there. Pure.

    Only what a re-read can tell: a resource that is gone is ``already-gone`` (for a
    delete, it went through); one that is still there is ``skipped`` (the action is not
    repeated here) with what happens to it next: ``next_step`` for the actions a plan
    makes, running ``reaper release`` again for a release. Consumed by recovery.
    """
    if not present:
        if action == Action.DELETE:
            return Result.ALREADY_GONE, "interrupted; the resource is gone: the delete went through"
        return Result.ALREADY_GONE, f"interrupted; the resource is gone, so the {action} is moot"
    if action == Action.RELEASE:
        return Result.SKIPPED, (
            "interrupted; the release may be partly done and is not repeated: run "
            "`reaper release` again to finish it"
        )
    if action == Action.DELETE:
        return (
            Result.SKIPPED,
            f"interrupted; the resource still exists, so the delete did not happen; {next_step}",
        )
    return (
        Result.SKIPPED,
        f"interrupted; the {action} may be partly done and is not repeated; {next_step}",
    )


__all__ = ["ScopeDone", "SweepService", "collect", "recovery_outcome"]
