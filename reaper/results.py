"""Pure: what a sweep returns, and the exit codes it maps to.

Here, below the shell, so that metrics, notifications and reports can read a
:class:`SweepReport` without importing the service that makes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from reaper.errors import SafetyLimitExceeded
from reaper.model import Action, CollectError, Outcome, Plan, Resource, Result
from reaper.records import Unresolved


class ExitCode(IntEnum):
    """The process exit codes of every command; the README's table lists them."""

    OK = 0
    PARTIAL_FAILURE = 1
    """Some collectors or actions failed, or an interrupted action could not be checked;
    the rest was done. Also: the audit trail could not be opened or trusted (nothing was
    done)."""
    USAGE = 2
    """A usage or config error: nothing was done."""
    SAFETY_BRAKE = 3
    """The plan exceeded the blast-radius limits: nothing was done."""
    AUDIT_LOCKED = 4
    """Another reaper run held the audit trail for longer than ``audit.lock_timeout``:
    nothing was done."""


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
    unresolved: tuple[Unresolved, ...] = ()
    """Intents of the trail still without an outcome when the sweep ended."""

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.result is Result.FAILED)

    @property
    def exit_code(self) -> ExitCode:
        if self.brake is not None:
            return ExitCode.SAFETY_BRAKE
        if self.collection.errors or self.failed or self.unresolved:
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
            f"unresolved={len(self.unresolved)} "
            f"brake={'tripped' if self.brake else 'ok'} exit={int(self.exit_code)}"
        )
