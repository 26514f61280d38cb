"""Carries out a plan: the one place where reaper changes anything in a cloud.

For each (kind, scope) group: intent records are written and fsynced, then the provider
is called, then outcome records are written. If the intent cannot be recorded, the
action is not performed. Kinds are processed in delete order; scopes of one order level
run concurrently.

A :class:`StopFlag` (the daemon's, on SIGTERM) stops a sweep between groups: a group not
started yet gets no intent, only ``skipped`` records; a provider call not started in a
group whose intents are written gets an ``outcome`` with result skipped.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from reaper import __version__, lifecycle, records
from reaper.audit import AuditLog
from reaper.errors import AuditError, ReaperError
from reaper.model import Action, Decision, Outcome, Plan, Resource, Result, Scope
from reaper.providers.base import NotSupported, ResourceKind
from reaper.records import Event
from reaper.workers import Job, WorkerLimits, account_of, run_jobs

log = logging.getLogger(__name__)


class StopFlag:
    """A cooperative stop for actuators, and the intents they have in flight. Thread-safe.

    Once :meth:`request` is called, an actuator starts no further (kind, scope) group and
    no further provider call: it finishes the call it is in and records the rest as
    skipped with the flag's reason. :meth:`in_flight` names the intents written whose
    outcomes are not written yet, for whoever gives up waiting (the daemon's
    ``shutdown-abandoned`` record).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._in_flight: dict[int, list[dict[str, Any]]] = {}
        self._next = 0

    def request(self, reason: str) -> None:
        """Ask every actuator using this flag to stop; the first reason given is kept."""
        with self._lock:
            if self._reason is None:
                self._reason = reason

    @property
    def reason(self) -> str | None:
        """Why a stop was requested; None while none was."""
        with self._lock:
            return self._reason

    def in_flight(self) -> list[dict[str, Any]]:
        """Copies of the intent records written (or being written) whose outcomes are not."""
        with self._lock:
            return [dict(r) for records in self._in_flight.values() for r in records]

    @contextmanager
    def acting(self, intents: Sequence[Mapping[str, Any]]) -> Iterator[None]:
        """Hold ``intents`` as in flight for the block (the call and its outcome records)."""
        with self._lock:
            token, self._next = self._next, self._next + 1
            self._in_flight[token] = [dict(r) for r in intents]
        try:
            yield
        finally:
            with self._lock:
                del self._in_flight[token]


class Actuator:
    """Executes the actionable decisions of a plan and records every step."""

    def __init__(
        self,
        kinds: Sequence[ResourceKind],
        audit: AuditLog,
        sweep_id: str,
        tag_keys: Iterable[str],
        limits: WorkerLimits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stop: StopFlag | None = None,
        signer: lifecycle.StateSigner | None = None,
    ) -> None:
        """``tag_keys``: the configured keys, kept in the audit records with each kind's
        ``audited_tags``. ``stop``: the flag that stops the actuator between
        calls (none: it cannot be stopped). ``limits``: how many (kind, scope) groups are
        acted on at once. ``signer`` signs the lifecycle tags the actuator writes; without one
        (or without its key) marking fails rather than writing unsigned tags."""
        self._clock = clock
        self._stop = stop if stop is not None else StopFlag()
        self._kinds = {k.key(): k for k in kinds}
        self._audit = audit
        self._writer = records.Writer(sweep_id, f"reaper/{__version__}", socket.gethostname())
        self._audited_tags = frozenset(tag_keys) | frozenset(
            t for k in kinds for t in k.audited_tags
        )
        self._limits = limits or WorkerLimits()
        self._signer = signer or lifecycle.StateSigner(None, ())

    def execute(self, plan: Plan, dry_run: bool) -> list[Outcome]:
        """Carry out (or, in dry-run, only record) every decision that is not keep."""
        actionable = [d for d in plan.decisions if d.action is not Action.KEEP]
        if dry_run:
            return self._record_dry_run(actionable)
        groups: dict[tuple[str, Scope], list[Decision]] = defaultdict(list)
        for decision in actionable:
            groups[(decision.ref.kind_key, decision.ref.scope)].append(decision)
        levels: dict[int, list[tuple[str, Scope]]] = defaultdict(list)
        for key in sorted(groups):
            kind = self._kinds.get(key[0])
            levels[kind.delete_order if kind else 0].append(key)
        outcomes: list[Outcome] = []
        for level in sorted(levels):
            jobs = [
                Job(
                    account_of(key[0].split(":", 1)[0], key[1]),
                    partial(self._act_on_group, key[0], key[1], groups[key], plan.created_at),
                )
                for key in levels[level]
            ]
            for future in run_jobs(jobs, self._limits):
                outcomes.extend(future.result())
        return outcomes

    def _act_on_group(
        self, kind_key: str, scope: Scope, decisions: list[Decision], now: datetime
    ) -> list[Outcome]:
        kind = self._kinds.get(kind_key)
        if kind is None:
            return [self._skip(d, f"kind {kind_key} is not enabled") for d in decisions]
        stopping = self._stop.reason
        if stopping is not None:
            return self._not_started(kind_key, scope, decisions, stopping)
        principal = self._principal(kind, scope)
        intents = [self._record(Event.INTENT, d, principal) for d in decisions]
        # In flight from before the intents are written until after the outcomes are.
        with self._stop.acting(intents):
            try:
                self._audit.append(intents)
            except AuditError as err:
                log.error(
                    "not acting on %d resources in %s %s: %s",
                    len(decisions),
                    kind_key,
                    scope,
                    err,
                )
                return [
                    Outcome(d.ref, d.action, Result.FAILED, f"audit trail unavailable: {err}")
                    for d in decisions
                ]
            acted = self._perform(kind, scope, decisions, now)
            self._track_failures(kind, scope, decisions, acted, now)
            by_ref = {d.ref: d for d in decisions}
            try:
                self._audit.append(
                    [self._record(Event.OUTCOME, by_ref[o.ref], principal, o) for o in acted]
                )
            except AuditError as err:
                # The actions happened; the missing outcomes show as intents without
                # outcomes, which the next sweep's recovery completes.
                log.error("cannot record outcomes for %s in %s: %s", kind_key, scope, err)
        for outcome in acted:
            log.info(
                "action=%s kind=%s scope=%s id=%s result=%s %s",
                outcome.action,
                kind_key,
                scope,
                outcome.ref.id,
                outcome.result,
                outcome.message,
            )
        return acted

    def _perform(
        self, kind: ResourceKind, scope: Scope, decisions: list[Decision], now: datetime
    ) -> list[Outcome]:
        """Call the provider once per action (and per mark content); one Outcome each."""
        calls: list[tuple[list[Decision], Callable[[], list[Outcome]]]] = []
        by_action: dict[Action, list[Decision]] = defaultdict(list)
        for decision in decisions:
            by_action[decision.action].append(decision)
        unmarked = dict.fromkeys((*lifecycle.MARK_KEYS, *lifecycle.FAILURE_KEYS))
        for decision in by_action.get(Action.UNMARK, []):
            unmark = partial(self._retag, kind, scope, decision, unmarked, Action.UNMARK)
            calls.append(([decision], unmark))
        # Each resource's signature covers its own identity, so marks go one resource a call.
        for decision in by_action.get(Action.MARK, []):
            announced = str(decision.intended or Action.DELETE)
            mark = lifecycle.mark_tags(now, announced, str(decision.reasons[0]))
            calls.append(
                ([decision], partial(self._retag, kind, scope, decision, mark, Action.MARK))
            )
        quarantine = by_action.get(Action.QUARANTINE, [])
        if quarantine:
            calls.append((quarantine, partial(kind.quarantine, scope, quarantine, now)))
        delete = by_action.get(Action.DELETE, [])
        if delete:
            resources_d = [d.resource for d in delete]
            calls.append((delete, partial(kind.delete, scope, resources_d)))

        outcomes: list[Outcome] = []
        for group_decisions, call in calls:
            stopping = self._stop.reason
            if stopping is not None:
                # The intents are written: each gets an outcome saying it was not performed.
                outcomes += [self._skip(d, stopping) for d in group_decisions]
                continue
            try:
                done = {o.ref: o for o in call()}
            except NotSupported as err:
                outcomes += [self._skip(d, str(err)) for d in group_decisions]
                continue
            except ReaperError as err:
                log.error("%s failed in %s: %s", kind.key(), scope, err)
                done, failure = {}, str(err)
            else:
                failure = "provider returned no outcome"
            outcomes += [
                done.get(d.ref) or Outcome(d.ref, d.action, Result.FAILED, failure)
                for d in group_decisions
            ]
        return outcomes

    def _not_started(
        self, kind_key: str, scope: Scope, decisions: list[Decision], reason: str
    ) -> list[Outcome]:
        """A group left out because a stop was requested: ``skipped`` records, no intents."""
        skipped = [self._skip(d, reason) for d in decisions]
        log.warning(
            "not acting on %d resources in %s %s: %s", len(decisions), kind_key, scope, reason
        )
        try:
            self.record_skipped(skipped)
        except AuditError as err:
            log.error("cannot record the skipped group %s in %s: %s", kind_key, scope, err)
        return skipped

    def _track_failures(
        self,
        kind: ResourceKind,
        scope: Scope,
        decisions: list[Decision],
        outcomes: list[Outcome],
        now: datetime,
    ) -> None:
        """Count failed attempts on the resource itself, so later sweeps back off.

        The count goes on top of the tags the failed action left (a quarantine may have
        recorded the originals before it failed), else of those the plan saw.
        """
        failed = {o.ref: o for o in outcomes if o.result is Result.FAILED}
        for decision in decisions:
            outcome = failed.get(decision.ref)
            if outcome is None:
                continue
            count = {
                lifecycle.FAILURES: str(decision.failures + 1),
                lifecycle.LAST_FAILURE_AT: lifecycle.epoch(now),
            }
            try:
                self._retag(kind, scope, decision, count, Action.KEEP, outcome.tags)
            except ReaperError as err:
                log.warning("cannot record the failure on %s: %s", decision.ref, err)

    def _retag(
        self,
        kind: ResourceKind,
        scope: Scope,
        decision: Decision,
        updates: Mapping[str, str | None],
        action: Action,
        left: Mapping[str, str] | None = None,
    ) -> list[Outcome]:
        """Change reaper's own tags on one resource and sign the result.

        Owned tags that did not verify at planning are dropped, not carried over: a
        signature never covers what someone else wrote. ``left``: the tags an action of
        the kind left on the resource, written and signed by reaper, to start from instead.
        """
        resource = decision.resource
        if left is not None:
            current, trusted = left, left
        else:
            current, trusted = resource.tags, resource.tags if decision.verified else {}
        change = lifecycle.change_owned(self._signer, resource.ref, trusted, current, updates)
        outcomes: list[Outcome] = []
        if change.remove:
            outcomes = kind.untag(scope, [resource], change.remove, action)
            if any(o.result is Result.FAILED for o in outcomes):
                return outcomes
        if change.write:
            outcomes = kind.tag(scope, [resource], change.write, action)
        return outcomes or [Outcome(resource.ref, action, Result.DONE, "nothing to change")]

    def _record_dry_run(self, decisions: list[Decision]) -> list[Outcome]:
        outcomes = [Outcome(d.ref, d.action, Result.DRY_RUN, "dry run") for d in decisions]
        records = [
            self._record(Event.DECISION, d, "", o, dry_run=True)
            for d, o in zip(decisions, outcomes, strict=True)
        ]
        self._audit.append(records)
        return outcomes

    def release(self, kind: ResourceKind, resource: Resource) -> Outcome:
        """Operator-initiated release of one resource, recorded like any action."""
        decision = Decision(resource, Action.RELEASE, ())
        principal = self._principal(kind, resource.ref.scope)
        self._audit.append([self._record(Event.INTENT, decision, principal)])
        try:
            outcome = kind.release(resource.ref.scope, resource)
        except ReaperError as err:
            outcome = Outcome(resource.ref, Action.RELEASE, Result.FAILED, str(err))
        self._audit.append([self._record(Event.OUTCOME, decision, principal, outcome)])
        return outcome

    def recovered_record(
        self, intent: Mapping[str, Any], result: Result, message: str
    ) -> dict[str, Any]:
        """The outcome an interrupted run owed for ``intent``, written by a later run."""
        return self._writer.recovered_record(self._clock(), intent, result, message)

    def record_skipped(self, outcomes: Sequence[Outcome]) -> None:
        """Record actions that were not attempted (pinned-plan items), and why."""
        self._audit.append([self._writer.skipped_record(self._clock(), o) for o in outcomes])

    def _principal(self, kind: ResourceKind, scope: Scope) -> str:
        try:
            return kind.principal(scope)
        except ReaperError as err:
            log.warning("cannot tell who reaper acts as in %s: %s", scope, err)
            return "unknown"

    @staticmethod
    def _skip(decision: Decision, message: str) -> Outcome:
        return Outcome(decision.ref, decision.action, Result.SKIPPED, message)

    def sweep_record(self, event: Event, **fields: Any) -> dict[str, Any]:
        """A sweep-level record (start, brake)."""
        return self._writer.sweep_record(event, self._clock(), **fields)

    def sweep_end_record(
        self,
        open_intents: Sequence[Mapping[str, Any]],
        why: Mapping[tuple[str, ...], str],
        **fields: Any,
    ) -> dict[str, Any]:
        """The ``sweep-end`` record, carrying the intents still open and why."""
        return self._writer.sweep_end_record(self._clock(), open_intents, why, **fields)

    def _record(
        self,
        event: Event,
        decision: Decision,
        principal: str,
        outcome: Outcome | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        return self._writer.action_record(
            event,
            self._clock(),
            decision,
            principal,
            self._audited_tags,
            outcome=outcome,
            dry_run=dry_run,
        )
