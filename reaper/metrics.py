"""Prometheus metrics. The registry is injected, so tests build their own and read it.

Labels stay low-cardinality: provider, kind, action, reason, outcome, operation, sink;
never resource ids or regions. The one exception is ``account`` on
``reaper_collect_errors_total``: the configured or derived account (project, cluster)
name of a failed collector, bounded by the size of the organization, so an alert can say
which account lost its role.

The sweep service (:class:`reaper.app.SweepService`) feeds one
:class:`Metrics` per process: ``observe_sweep`` after each sweep, ``observe_error`` when a
sweep raised, and the provider clients call ``count_api_request`` for every HTTP attempt.
Never the default global registry: ``reaper run`` builds a fresh one per run and pushes it,
the daemon keeps one for its lifetime and serves it.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import Counter as Tally
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reaper.errors import AuditLocked, ChainForked, ChainHeadUnknown, ChainWentBack, TrailRefused
from reaper.model import Action

if TYPE_CHECKING:
    from reaper.audit import AuditLog
    from reaper.notify import WebhookNotifier
    from reaper.results import SweepReport

SWEEP_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class Metrics:
    """Every metric reaper exports, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.resources_seen = Gauge(
            "reaper_resources_seen",
            "Pipeline-tagged resources seen by the last sweep.",
            ["provider", "kind"],
            registry=registry,
        )
        self.candidates = Gauge(
            "reaper_candidates",
            "Resources the last sweep decided to act on (mark, quarantine, delete), by reason.",
            ["provider", "kind", "reason"],
            registry=registry,
        )
        self.actions = Counter(
            "reaper_actions_total",
            "Actions carried out (or recorded in dry-run), by outcome.",
            ["provider", "kind", "action", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "reaper_errors_total",
            "Collector and action errors: operation is collect, or the action that failed.",
            ["provider", "operation"],
            registry=registry,
        )
        self.collect_errors = Counter(
            "reaper_collect_errors_total",
            "Collectors that failed, by account (project, cluster): one per kind and region.",
            ["provider", "account"],
            registry=registry,
        )
        self.api_requests = Counter(
            "reaper_cloud_api_requests_total",
            "Requests sent to cloud APIs, retries included.",
            ["provider", "operation"],
            registry=registry,
        )
        self.sweep_duration = Histogram(
            "reaper_sweep_duration_seconds",
            "Wall time of whole sweeps.",
            buckets=SWEEP_BUCKETS,
            registry=registry,
        )
        self.sweeps = Counter(
            "reaper_sweeps_total",
            "Sweeps run, by result (ok, partial_failure, safety_brake, error).",
            ["result"],
            registry=registry,
        )
        self.last_success = Gauge(
            "reaper_last_successful_sweep_timestamp_seconds",
            "Unix time the last sweep without errors finished.",
            registry=registry,
        )
        self.marked = Gauge(
            "reaper_marked_resources",
            "Resources marked and waiting for their action, after the last sweep.",
            ["provider", "kind"],
            registry=registry,
        )
        self.marked_seconds_left = Gauge(
            "reaper_marked_next_action_seconds",
            "Seconds until the soonest action on a marked resource (negative: overdue).",
            ["provider", "kind"],
            registry=registry,
        )
        self.brake_trips = Counter(
            "reaper_safety_brake_trips_total",
            "Sweeps the safety brake stopped.",
            registry=registry,
        )
        self.audit_failures = Counter(
            "reaper_audit_sink_failures_total",
            "Audit batches a sink failed to take.",
            ["sink"],
            registry=registry,
        )
        self.notify_failures = Counter(
            "reaper_notification_failures_total",
            "Webhook notifications that could not be delivered.",
            registry=registry,
        )
        self.unresolved_intents = Gauge(
            "reaper_unresolved_intents",
            "Intents in the audit trail still without an outcome after the last sweep: "
            "actions of unknown fate that recovery could not check yet.",
            registry=registry,
        )
        self.trail_refusals = Counter(
            "reaper_audit_trail_refusals_total",
            "Sweeps that did nothing, or stopped, because the audit trail could not be "
            "taken or trusted: locked by another run, head unknown, went back, forked.",
            ["reason"],
            registry=registry,
        )
        for refused in (AuditLocked, ChainHeadUnknown, ChainWentBack, ChainForked):
            self.trail_refusals.labels(refused.reason)
        self.run_requests = Counter(
            "reaper_pipeline_api_requests_total",
            "Requests sent to CI systems (GitHub, GitLab) about pipeline runs, retries included.",
            registry=registry,
        )
        self.run_not_modified = Counter(
            "reaper_pipeline_api_not_modified_total",
            "CI requests answered 304 Not Modified (an ETag kept from an earlier sweep).",
            registry=registry,
        )
        self.run_throttled = Counter(
            "reaper_pipeline_api_throttled_total",
            "CI answers that were rate-limit refusals.",
            registry=registry,
        )
        self.run_wait = Counter(
            "reaper_pipeline_rate_limit_wait_seconds_total",
            "Time spent waiting for CI rate limits to lift.",
            registry=registry,
        )
        self.runs = Counter(
            "reaper_pipeline_runs_total",
            "Distinct pipeline runs looked up, by state (active, finished, unknown).",
            ["state"],
            registry=registry,
        )
        self.runs_unknown = Counter(
            "reaper_pipeline_runs_unknown_total",
            "Runs whose state could not be told, by reason (not-found, no-token, ...).",
            ["reason"],
            registry=registry,
        )
        # What was already counted of each audit log's and notifier's own failure counts,
        # so a log or notifier that lives across sweeps (the daemon) is counted once.
        self._seen_lock = threading.Lock()
        self._audit_seen: weakref.WeakKeyDictionary[AuditLog, dict[str, int]] = (
            weakref.WeakKeyDictionary()
        )
        self._notify_seen: weakref.WeakKeyDictionary[WebhookNotifier, int] = (
            weakref.WeakKeyDictionary()
        )

    def count_api_request(self, provider: str, operation: str) -> None:
        """One HTTP attempt to a cloud API (``aws``, ``DescribeInstances``); retries count."""
        self.api_requests.labels(provider, operation).inc()

    def observe_run_lookups(
        self,
        *,
        requests: int = 0,
        not_modified: int = 0,
        throttled: int = 0,
        waited_seconds: float = 0.0,
        states: Mapping[str, int] | None = None,
        unknown: Mapping[str, int] | None = None,
    ) -> None:
        """Count one sweep's pipeline-run lookups (``reaper.pipelines``' ``LookupStats``)."""
        self.run_requests.inc(requests)
        self.run_not_modified.inc(not_modified)
        self.run_throttled.inc(throttled)
        self.run_wait.inc(waited_seconds)
        for state, count in (states or {}).items():
            self.runs.labels(state).inc(count)
        for reason, count in (unknown or {}).items():
            self.runs_unknown.labels(reason).inc(count)

    def observe_error(self, duration: float) -> None:
        """Record a sweep that raised instead of finishing (``result="error"``)."""
        self.sweep_duration.observe(duration)
        self.sweeps.labels("error").inc()

    def observe_refusal(self, refused: TrailRefused) -> None:
        """Count a sweep the audit trail refused (``reason`` is the error's)."""
        self.trail_refusals.labels(refused.reason).inc()

    def observe_audit(self, audit: AuditLog) -> None:
        """Count the sink failures ``audit.failures`` gained since this log was last seen.

        A log seen for the first time counts from its opening, so a sink that could not be
        read when the log was opened is counted too.
        """
        with self._seen_lock:
            seen = self._audit_seen.setdefault(audit, {})
            self._count_new(self.audit_failures, audit.failures, seen)

    def observe_notifier(self, notifier: WebhookNotifier) -> None:
        """Count the notifications ``notifier.failed`` gained since it was last seen."""
        with self._seen_lock:
            failed = notifier.failed
            new = failed - self._notify_seen.get(notifier, 0)
            if new > 0:
                self.notify_failures.inc(new)
            self._notify_seen[notifier] = failed

    @staticmethod
    def _count_new(counter: Counter, totals: Mapping[str, int], seen: dict[str, int]) -> None:
        for name, total in totals.items():
            new = total - seen.get(name, 0)
            if new > 0:
                counter.labels(name).inc(new)
            seen[name] = total

    def observe_sweep(
        self,
        report: SweepReport,
        duration: float,
        finished: datetime,
        providers: Collection[str] | None = None,
    ) -> None:
        """Record one finished sweep (or pinned apply).

        ``duration`` is the sweep's wall time in seconds, ``finished`` when it ended: the
        last-success gauge holds ``finished`` and the marks' seconds-left count from it.
        The snapshot gauges (seen, candidates, marked) are replaced for ``providers``, the
        ones the sweep covered (all when None); other providers', swept on schedules of
        their own, stay as their last sweep left them.
        """
        plan = report.plan
        self.sweep_duration.observe(duration)
        result = {0: "ok", 1: "partial_failure", 3: "safety_brake"}.get(report.exit_code, "error")
        self.sweeps.labels(result).inc()
        if report.brake is not None:
            self.brake_trips.inc()
        if report.exit_code == 0:
            self.last_success.set(finished.timestamp())
        self.unresolved_intents.set(len(report.unresolved))
        _forget(self.resources_seen, providers)
        for key, count in plan.population.items():
            provider, kind = key.split(":", 1)
            self.resources_seen.labels(provider, kind).set(count)
        _forget(self.candidates, providers)
        tally: Tally[tuple[str, str, str]] = Tally()
        for decision in plan.decisions:
            if decision.action in (Action.MARK, Action.QUARANTINE, Action.DELETE):
                ref = decision.ref
                tally[(ref.provider, ref.kind, str(decision.reasons[0]))] += 1
        for labels, count in tally.items():
            self.candidates.labels(*labels).set(count)
        for outcome in report.outcomes:
            ref = outcome.ref
            self.actions.labels(
                ref.provider, ref.kind, str(outcome.action), str(outcome.result)
            ).inc()
            if not outcome.result.ok:
                self.errors.labels(ref.provider, str(outcome.action)).inc()
        for error in report.collection.errors:
            provider = error.kind_key.split(":", 1)[0]
            self.errors.labels(provider, "collect").inc()
            self.collect_errors.labels(provider, error.scope.account).inc()
        self._observe_marks(report, finished, providers)

    def forget_last_sweep(self) -> None:
        """Drop what the last sweep's snapshot gauges say (seen, candidates, marked,
        unresolved intents): a daemon replica that no longer leads leaves them to the
        leader, whose sweeps report them now. The last success's time stays: it was."""
        self.unresolved_intents.set(0)
        for gauge in (self.resources_seen, self.candidates, self.marked, self.marked_seconds_left):
            gauge.clear()

    def _observe_marks(
        self, report: SweepReport, finished: datetime, providers: Collection[str] | None
    ) -> None:
        _forget(self.marked, providers)
        _forget(self.marked_seconds_left, providers)
        soonest: dict[tuple[str, str], float] = {}
        counts: Tally[tuple[str, str]] = Tally()
        for decision in report.plan.decisions:
            waiting = decision.action is Action.MARK or (
                decision.action is Action.KEEP and decision.intended is not None
            )
            if not waiting or decision.not_before is None:
                continue
            key = (decision.ref.provider, decision.ref.kind)
            counts[key] += 1
            left = (decision.not_before - finished).total_seconds()
            soonest[key] = min(left, soonest.get(key, left))
        for key, count in counts.items():
            self.marked.labels(*key).set(count)
            self.marked_seconds_left.labels(*key).set(soonest[key])


def _forget(gauge: Gauge, providers: Collection[str] | None) -> None:
    """Drop the gauge's series of ``providers`` (every series when None)."""
    if providers is None:
        gauge.clear()
        return
    for family in gauge.collect():
        for sample in family.samples:
            if sample.labels.get("provider") in providers:
                # Samples list their labels in the gauge's label order.
                with contextlib.suppress(KeyError):
                    gauge.remove(*sample.labels.values())
