"""One sweep: collect -> plan -> brake -> act -> record. The shell around the pure core."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from reaper.actuator import Actuator
from reaper.audit import AuditLog
from reaper.config import Settings
from reaper.errors import ReaperError, SafetyLimitExceeded
from reaper.model import Action, CollectError, Outcome, Plan, Resource, Result, Scope
from reaper.policy import check_brake, make_plan
from reaper.providers.base import ResourceKind

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


def collect(kinds: Sequence[ResourceKind], max_workers: int = 8) -> Collection:
    """Run every kind's collector in every scope concurrently; failures are kept, not raised."""
    jobs = [(kind, scope) for kind in kinds for scope in kind.scopes()]
    resources: list[Resource] = []
    errors: list[CollectError] = []
    skipped = 0
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = [(kind, scope, pool.submit(kind.collect, scope)) for kind, scope in jobs]
        for kind, scope, future in futures:
            try:
                collected = future.result()
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


def plan_sweep(
    settings: Settings, kinds: Sequence[ResourceKind], now: datetime, max_workers: int = 8
) -> tuple[Plan, Collection, SafetyLimitExceeded | None]:
    """Collect and decide; never changes anything."""
    collection = collect(kinds, max_workers)
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
) -> SweepReport:
    """One full sweep. ``now`` is the sweep's single clock reading."""
    sweep_id = uuid.uuid4().hex[:12]
    workers = settings.providers.aws.max_workers if settings.providers.aws else 8
    actuator = Actuator(kinds, audit, sweep_id, settings.tags.model_dump().values(), workers)
    audit.append(
        [actuator.sweep_record("sweep-start", dry_run=dry_run, config_sha256=config_sha256)]
    )
    plan, collection, brake = plan_sweep(settings, kinds, now, workers)
    outcomes: list[Outcome] = []
    if brake is not None:
        log.error("%s; nothing was done", brake)
        audit.append(
            [
                actuator.sweep_record(
                    "safety-brake",
                    dry_run=dry_run,
                    reasons=list(brake.reasons),
                    counts=[vars(c) for c in brake.counts],
                )
            ]
        )
    else:
        outcomes = actuator.execute(plan, dry_run)
    report = SweepReport(sweep_id, plan, collection, dry_run, tuple(outcomes), brake)
    audit.append(
        [
            actuator.sweep_record(
                "sweep-end",
                dry_run=dry_run,
                exit_code=report.exit_code,
                collect_errors=[f"{e.kind_key} {e.scope}: {e.message}" for e in collection.errors],
                summary=report.summary(),
            )
        ]
    )
    return report


__all__ = ["Collection", "ExitCode", "Scope", "SweepReport", "collect", "plan_sweep", "run_sweep"]
