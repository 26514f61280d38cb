"""Pure: the ops view of a plan, shared by the Markdown and HTML reports.

Grouped by owner, then pipeline run, with the alarms (safety brake, collect errors,
escalations) first.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.model import Action, CollectError, Decision, Outcome, Plan, Reason, Result
from reaper.report.text import ACTION_ORDER, MAX_MESSAGE, age_text, clean, human

Brake = SafetyLimitExceeded | Sequence[str] | None
"""The safety brake as renderers take it: the error itself, its reasons, or None."""

QUIET_REASONS = frozenset(
    {Reason.WITHIN_TTL, Reason.RUN_ACTIVE, Reason.PROTECTED, Reason.NOT_PIPELINE}
)
"""A kept resource with only these reasons, and nothing pending, is counted, not listed."""

NO_OWNER = "(no owner tag)"
NO_PIPELINE = "(no pipeline tag)"

_BY_ORDER = sorted(Action, key=ACTION_ORDER.__getitem__)


@dataclass(frozen=True)
class Row:
    """One listed resource and the text a person reads in each column."""

    decision: Decision
    outcome: Outcome | None
    action: str
    """``delete``; for a kept resource with an action pending, ``keep → delete``."""
    reasons: str
    age: str
    time_left: str
    """Until the action may be carried out: ``in 6h``, ``overdue by 2h``, ``now`` or ``-``."""
    overdue: bool


@dataclass(frozen=True)
class PipelineGroup:
    """The listed resources of one pipeline run (the pipeline tag's value)."""

    run: str | None
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class OwnerGroup:
    """The listed resources of one owner (the owner tag's value), by pipeline run."""

    owner: str | None
    pipelines: tuple[PipelineGroup, ...]
    listed: int
    quiet: int
    """This owner's kept resources that are counted in ``ReportView.quiet``, not listed."""


@dataclass(frozen=True)
class Total:
    """Decisions of one provider, kind and reason, by action."""

    provider: str
    kind: str
    reason: str
    """The decision's reasons joined with ``, `` (``ttl-expired, in-grace``)."""
    actions: Mapping[Action, int]

    @property
    def total(self) -> int:
        return sum(self.actions.values())


@dataclass(frozen=True)
class Candidates:
    """Non-keep decisions of one provider, kind and reason: one segment of the chart."""

    provider: str
    kind: str
    reason: str
    count: int

    @property
    def kind_key(self) -> str:
        return f"{self.provider}:{self.kind}"


@dataclass(frozen=True)
class ReportView:
    """Everything the Markdown and HTML reports show, computed once. Built by ``build_view``."""

    created_at: datetime
    dry_run: bool | None
    """None when the caller did not say (a plan: nothing is changed either way)."""
    resources: int
    actions: Mapping[Action, int]
    """Decisions per action, every action present (zero included)."""
    brake: tuple[str, ...]
    """The safety brake's reasons; empty when it did not trip."""
    brake_counts: tuple[BrakeCount, ...]
    collect_errors: tuple[CollectError, ...]
    escalated: tuple[Row, ...]
    owners: tuple[OwnerGroup, ...]
    """Owners in natural order (``team-9`` before ``team-10``), no owner tag last."""
    quiet: Mapping[str, int]
    """Kept resources not listed, per reason."""
    totals: tuple[Total, ...]
    total_actions: tuple[Action, ...]
    """The actions that occur in ``totals``, most destructive first: the totals' columns."""
    candidates: tuple[Candidates, ...]
    results: Mapping[Result, int]
    """Outcomes per result, when outcomes were given."""
    unplanned: tuple[Outcome, ...]
    """Outcomes of resources not in the plan (pinned items skipped by ``reaper apply``)."""
    has_outcomes: bool

    @property
    def listed(self) -> int:
        return sum(o.listed for o in self.owners)


def build_view(
    plan: Plan,
    outcomes: Sequence[Outcome] = (),
    collect_errors: Sequence[CollectError] = (),
    brake: Brake = None,
    *,
    dry_run: bool | None = None,
) -> ReportView:
    """Group, count and format a plan for people. Pure; consumed by the Markdown and HTML
    renderers (``render_markdown``, ``html.render_html``)."""
    now = plan.created_at
    results = {o.ref: o for o in outcomes}
    planned = {d.ref for d in plan.decisions}
    ordered = sorted(plan.decisions, key=lambda d: (ACTION_ORDER[d.action], d.ref))

    groups: dict[str | None, dict[str | None, list[Row]]] = defaultdict(lambda: defaultdict(list))
    quiet_by_owner: Counter[str | None] = Counter()
    quiet: Counter[str] = Counter()
    escalated: list[Row] = []
    for d in ordered:
        r = d.resource
        if is_quiet(d):
            quiet[reason_key(d)] += 1
            quiet_by_owner[r.owner] += 1
            continue
        row = _row(d, results.get(d.ref), now)
        groups[r.owner][r.pipeline_run].append(row)
        if d.escalated:
            escalated.append(row)

    owner_names = sorted(set(groups) | set(quiet_by_owner), key=_none_last)
    owners = []
    for owner in owner_names:
        runs = groups.get(owner, {})
        pipelines = tuple(
            PipelineGroup(run, tuple(runs[run])) for run in sorted(runs, key=_none_last)
        )
        if pipelines:
            listed = sum(len(p.rows) for p in pipelines)
            owners.append(OwnerGroup(owner, pipelines, listed, quiet_by_owner[owner]))

    per_total: dict[tuple[str, str, str], Counter[Action]] = defaultdict(Counter)
    per_candidate: Counter[tuple[str, str, str]] = Counter()
    for d in plan.decisions:
        key = (d.ref.provider, d.ref.kind, reason_key(d))
        per_total[key][d.action] += 1
        if d.action is not Action.KEEP:
            per_candidate[key] += 1
    totals = tuple(Total(*key, dict(per_total[key])) for key in sorted(per_total))
    present = {a for t in totals for a in t.actions}

    if isinstance(brake, SafetyLimitExceeded):
        brake_reasons, brake_counts = brake.reasons, brake.counts
    else:
        brake_reasons, brake_counts = tuple(brake or ()), ()
    return ReportView(
        created_at=now,
        dry_run=dry_run,
        resources=len(plan.decisions),
        actions={a: plan.count(a) for a in _BY_ORDER},
        brake=brake_reasons,
        brake_counts=brake_counts,
        collect_errors=tuple(collect_errors),
        escalated=tuple(escalated),
        owners=tuple(owners),
        quiet=dict(sorted(quiet.items())),
        totals=totals,
        total_actions=tuple(
            a for a in sorted(Action, key=ACTION_ORDER.__getitem__) if a in present
        ),
        candidates=tuple(Candidates(*key, n) for key, n in sorted(per_candidate.items())),
        results=dict(Counter(o.result for o in outcomes)),
        unplanned=tuple(o for o in outcomes if o.ref not in planned),
        has_outcomes=bool(outcomes),
    )


def is_quiet(decision: Decision) -> bool:
    """True for a kept resource with nothing pending and nothing to fix. Pure."""
    return (
        decision.action is Action.KEEP
        and decision.intended is None
        and not decision.escalated
        and not decision.warnings
        and set(decision.reasons) <= QUIET_REASONS
    )


def reason_key(decision: Decision) -> str:
    """The decision's reasons as one label: ``ttl-expired, in-grace``."""
    return ", ".join(decision.reasons) or "-"


def time_left(decision: Decision, now: datetime) -> tuple[str, bool]:
    """Time until the decision's action may be carried out, and whether that is past. Pure.

    Uses ``not_before``; a kept resource without one (quarantined, within its TTL) counts
    down to its deadline instead. An action without any time is carried out ``now``.
    """
    when = decision.not_before
    if when is None and decision.action is Action.KEEP:
        when = decision.deadline
    if when is None:
        return ("-" if decision.action is Action.KEEP else "now"), False
    delta = when - now
    if delta <= timedelta(0):
        return f"overdue by {human(delta)}", True
    return f"in {human(delta)}", False


def _row(d: Decision, outcome: Outcome | None, now: datetime) -> Row:
    action = str(d.action)
    if d.action is Action.KEEP and d.intended is not None:
        action = f"keep → {d.intended}"
    left, overdue = time_left(d, now)
    return Row(
        decision=d,
        outcome=outcome,
        action=action,
        reasons=reason_key(d),
        age=age_text(d.resource, now),
        time_left=left,
        overdue=overdue,
    )


def _none_last(value: str | None) -> tuple[bool, tuple[tuple[int, str], ...]]:
    """Sort key: natural order (``run-991`` before ``run-1002``), None last."""
    parts = re.findall(r"(\d+)|(\D+)", value or "")
    return (value is None, tuple((int(n) if n else -1, text) for n, text in parts))


def outcome_message(outcome: Outcome) -> str:
    """The outcome's message for people, or "" when it only repeats the result."""
    message = clean(outcome.message, MAX_MESSAGE)
    return "" if message.replace(" ", "-") == str(outcome.result) else message


def owner_label(owner: str | None) -> str:
    return NO_OWNER if owner is None else clean(owner) or '""'


def pipeline_label(run: str | None) -> str:
    return NO_PIPELINE if run is None else clean(run) or '""'


def mode_line(view: ReportView) -> str:
    """One sentence on whether anything was or will be changed."""
    if view.brake:
        return "Safety brake tripped: nothing was changed."
    if view.dry_run:
        return "Dry run: nothing was changed."
    if view.dry_run is False and view.has_outcomes:
        return "Live run: the actions below were carried out; see the result column."
    if view.dry_run is False:
        return "Live run."
    return "Plan: nothing has been changed."


def quiet_note(view: ReportView) -> str:
    """The sentence saying which kept resources are counted rather than listed."""
    if not view.quiet:
        return ""
    counts = ", ".join(f"{n} {reason}" for reason, n in view.quiet.items())
    total = sum(view.quiet.values())
    return (
        f"{total} kept resources with nothing pending are counted, not listed ({counts}); "
        "the totals include them."
    )


def actions_line(view: ReportView) -> str:
    counts = ", ".join(f"{n} {a}" for a, n in view.actions.items() if n or a is not Action.RELEASE)
    return f"{view.resources} resources: {counts}"
