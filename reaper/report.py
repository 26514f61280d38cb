"""Renders plans and sweep results for people and programs. Pure: no I/O, no clock.

Formats: ``table`` (terminal), ``json`` (programs, ``reaper apply``), ``markdown`` (merge
requests, chat, tickets) and ``html`` (one self-contained file, in ``report_html``).
Markdown and HTML share one view of the plan, ``build_view``: grouped by owner, then
pipeline run, with the alarms (safety brake, collect errors, escalations) first.

Every value that comes from a resource (tags, names, ids, warnings) is attacker-controlled:
anyone who can tag a resource in a CI account chooses it. Renderers escape such values for
their format; ``clean`` removes control and bidi characters from them first.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from reaper.durations import format_duration
from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.model import Action, CollectError, Decision, Outcome, Plan, Reason, Resource, Result

_ORDER = {
    Action.DELETE: 0,
    Action.QUARANTINE: 1,
    Action.MARK: 2,
    Action.UNMARK: 3,
    Action.RELEASE: 4,
    Action.KEEP: 5,
}


def plan_to_json(
    plan: Plan,
    dry_run: bool,
    errors: Sequence[CollectError] = (),
    brake: Sequence[str] = (),
    outcomes: Sequence[Outcome] = (),
    config_sha256: str = "",
) -> dict[str, Any]:
    """The JSON plan: a top-level ``decisions`` list plus summary, errors and brake.

    ``config_sha256`` pins the plan to the config it was made with (``reaper apply``).
    """
    results = {o.ref: o for o in outcomes}
    decisions = []
    for d in plan.decisions:
        item = _decision(d, plan.created_at)
        outcome = results.get(d.ref)
        if outcome is not None:
            item["result"] = str(outcome.result)
            item["message"] = outcome.message
        decisions.append(item)
    return {
        "generated_at": plan.created_at.isoformat(),
        "config_sha256": config_sha256,
        "dry_run": dry_run,
        "summary": {
            "resources": len(plan.decisions),
            "actions": {str(a): plan.count(a) for a in Action},
            "population": dict(sorted(plan.population.items())),
        },
        "safety_brake": {"tripped": bool(brake), "reasons": list(brake)},
        "collect_errors": [
            {"kind": e.kind_key, "scope": str(e.scope), "message": e.message} for e in errors
        ],
        "decisions": decisions,
    }


def _decision(d: Decision, now: datetime) -> dict[str, Any]:
    r = d.resource
    return {
        "provider": r.ref.provider,
        "kind": r.ref.kind,
        "id": r.ref.id,
        "name": r.name,
        "scope": {"account": r.ref.scope.account, "region": r.ref.scope.region},
        "state": r.state,
        "action": str(d.action),
        "reasons": [str(x) for x in d.reasons],
        "warnings": list(d.warnings),
        "owner": r.owner,
        "pipeline_run": r.pipeline_run,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "deadline": d.deadline.isoformat() if d.deadline else None,
        "not_before": d.not_before.isoformat() if d.not_before else None,
        "intended": str(d.intended) if d.intended else None,
        "failures": d.failures,
        "escalated": d.escalated,
    }


def render_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def render_table(plan: Plan, outcomes: Sequence[Outcome] = ()) -> str:
    """A fixed-width table, most destructive first, then a totals line."""
    results = {o.ref: o for o in outcomes}
    header = ["ACTION", "KIND", "SCOPE", "ID", "NAME", "OWNER", "AGE", "DUE", "REASONS"]
    if outcomes:
        header.append("RESULT")
    rows = [header]
    ordered = sorted(plan.decisions, key=lambda d: (_ORDER[d.action], d.ref))
    for d in ordered:
        r = d.resource
        row = [
            str(d.action),
            r.ref.kind_key,
            str(r.ref.scope),
            r.ref.id,
            _clip(r.name, 28),
            _clip(r.owner or "-", 16),
            _age(r, plan.created_at),
            _due(d, plan.created_at),
            ",".join(d.reasons),
        ]
        if outcomes:
            outcome = results.get(d.ref)
            row.append(str(outcome.result) if outcome else "-")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    totals = ", ".join(f"{plan.count(a)} {a}" for a in Action)
    lines.append(f"\n{len(plan.decisions)} pipeline resources: {totals}")
    return "\n".join(lines) + "\n"


def render_resources(resources: Sequence[Resource], now: datetime) -> str:
    """A short table of resources, for showing what is left after a sweep."""
    rows = [["KIND", "SCOPE", "ID", "NAME", "STATE", "AGE"]]
    for r in sorted(resources, key=lambda x: x.ref):
        rows.append(
            [r.ref.kind_key, str(r.ref.scope), r.ref.id, _clip(r.name, 28), r.state, _age(r, now)]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return (
        "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        )
        + "\n"
    )


def human(delta: timedelta) -> str:
    """A duration for people: its two largest units, rounded down (``1d12h``, ``5m``)."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    text = format_duration(timedelta(seconds=seconds - seconds % 60))
    parts = re.findall(r"\d+[a-z]", text)
    return "".join(parts[:2])


def _age(resource: Resource, now: datetime) -> str:
    if resource.created_at is None:
        return "?"
    return human(now - resource.created_at)


def _due(decision: Decision, now: datetime) -> str:
    if decision.deadline is None:
        return "-"
    delta = decision.deadline - now
    if delta.total_seconds() <= 0:
        return f"{human(delta)} ago"
    return f"in {human(delta)}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- the ops view, shared by Markdown and HTML --------------------------------------------

Format = Literal["table", "json", "markdown", "html"]
FORMATS: tuple[Format, ...] = ("table", "json", "markdown", "html")
"""The report formats, for ``click.Choice(FORMATS)``."""

Brake = SafetyLimitExceeded | Sequence[str] | None
"""The safety brake as renderers take it: the error itself, its reasons, or None."""

QUIET_REASONS = frozenset({Reason.WITHIN_TTL, Reason.PROTECTED, Reason.NOT_PIPELINE})
"""A kept resource with only these reasons, and nothing pending, is counted, not listed."""

NO_OWNER = "(no owner tag)"
NO_PIPELINE = "(no pipeline tag)"
MAX_CELL = 80
"""Longest name, owner or pipeline run shown; longer values are clipped."""
MAX_MESSAGE = 300
"""Longest error or outcome message shown."""


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
    renderers (``render_markdown``, ``report_html.render_html``)."""
    now = plan.created_at
    results = {o.ref: o for o in outcomes}
    planned = {d.ref for d in plan.decisions}
    ordered = sorted(plan.decisions, key=lambda d: (_ORDER[d.action], d.ref))

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
        actions={a: plan.count(a) for a in sorted(Action, key=_ORDER.__getitem__)},
        brake=brake_reasons,
        brake_counts=brake_counts,
        collect_errors=tuple(collect_errors),
        escalated=tuple(escalated),
        owners=tuple(owners),
        quiet=dict(sorted(quiet.items())),
        totals=totals,
        total_actions=tuple(a for a in sorted(Action, key=_ORDER.__getitem__) if a in present),
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


def clean(text: str, width: int = MAX_CELL) -> str:
    """A value from a resource made safe to show: control, format and bidi characters
    replaced, whitespace collapsed, clipped to ``width``. Escaping is the renderer's job."""
    collapsed = " ".join(text.split())
    safe = "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf") else c for c in collapsed)
    return _clip(safe, width)


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
        age=_age(d.resource, now),
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


# -- Markdown -----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*{}\[\]<>()#+!|~&])")


def render_markdown(
    plan: Plan,
    outcomes: Sequence[Outcome] = (),
    collect_errors: Sequence[CollectError] = (),
    brake: Brake = None,
    *,
    dry_run: bool | None = None,
) -> str:
    """The plan (and results, if given) as Markdown for merge requests, tickets and chat.

    Alarms first (safety brake, collect errors, escalations), then totals, then the
    resources grouped by owner and pipeline run. Values from resources are shown as code
    spans, so no tag value can become a link, an image or HTML. Pure.
    """
    view = build_view(plan, outcomes, collect_errors, brake, dry_run=dry_run)
    out = [
        f"# reaper report, {_when(view.created_at)}",
        "",
        f"**{_md(mode_line(view))}** {_md(actions_line(view))}.",
    ]
    if view.results:
        results = ", ".join(f"{n} {r}" for r, n in sorted(view.results.items()))
        out.append(f"Results: {results}.")
    out += _md_brake(view) + _md_errors(view) + _md_escalated(view) + _md_totals(view)
    out += _md_resources(view) + _md_unplanned(view)
    return "\n".join(out) + "\n"


def _md_brake(view: ReportView) -> list[str]:
    if not view.brake:
        return []
    out = ["", "## Safety brake tripped", ""]
    out.append("The plan exceeds the blast-radius limits, so no action was taken:")
    out += ["", *(f"- {_md(reason)}" for reason in view.brake)]
    if view.brake_counts:
        rows = [
            [_md(c.group), str(c.actions), str(c.population), _share(c)] for c in view.brake_counts
        ]
        header = ["Kind", "Planned", "Pipeline resources", "Share"]
        out += ["", *_md_table(header, rows, numeric={1, 2, 3})]
    return out


def _md_errors(view: ReportView) -> list[str]:
    n = len(view.collect_errors)
    if not n:
        return []
    rows = [
        [_md(e.kind_key), _md_code(str(e.scope)), _md_message(e.message)]
        for e in view.collect_errors
    ]
    return [
        "",
        f"## Collect errors: {n} {'scope' if n == 1 else 'scopes'} not read",
        "",
        "Resources in these scopes are missing from this report and were not acted on.",
        "",
        *_md_table(["Kind", "Scope", "Error"], rows),
    ]


def _md_escalated(view: ReportView) -> list[str]:
    n = len(view.escalated)
    if not n:
        return []
    header = ["Action", "Kind", "Scope", "ID", "Name", "Owner", "Failures", "Reasons", "Time left"]
    rows = [
        [
            _md(row.action),
            _md(row.decision.ref.kind_key),
            _md_code(str(row.decision.ref.scope)),
            _md_code(row.decision.ref.id),
            _md_code(row.decision.resource.name),
            _md_label(row.decision.resource.owner, owner_label),
            str(row.decision.failures),
            _md(row.reasons),
            _md(row.time_left),
        ]
        for row in view.escalated
    ]
    who = "resource needs" if n == 1 else "resources need"
    return [
        "",
        f"## Escalated: {n} {who} a person",
        "",
        "reaper keeps failing to act on these; look at them and at their audit records.",
        "",
        *_md_table(header, rows, numeric={6}),
    ]


def _md_totals(view: ReportView) -> list[str]:
    out = ["", "## Totals by provider, kind and reason", ""]
    if not view.totals:
        return [*out, "No resources were seen."]
    columns = [str(a) for a in view.total_actions]
    rows = [
        [_md(t.provider), _md(t.kind), _md(t.reason)]
        + [str(t.actions.get(a, 0)) for a in view.total_actions]
        + [str(t.total)]
        for t in view.totals
    ]
    rows.append(
        ["**all**", "", ""]
        + [f"**{view.actions[a]}**" for a in view.total_actions]
        + [f"**{view.resources}**"]
    )
    numeric = set(range(3, 4 + len(columns)))
    return out + _md_table(["Provider", "Kind", "Reason", *columns, "Total"], rows, numeric)


def _md_resources(view: ReportView) -> list[str]:
    out = ["", "## Resources by owner and pipeline run", ""]
    note = quiet_note(view)
    if note:
        out.append(_md(note))
    if not view.owners:
        out += ["", "Nothing to list: no resource has an action pending."]
    for owner in view.owners:
        extra = f", {owner.quiet} more kept and not listed" if owner.quiet else ""
        title = f"### Owner {_md_label(owner.owner, owner_label)}"
        out += ["", f"{title} ({owner.listed} listed{extra})"]
        for pipeline in owner.pipelines:
            run = _md_label(pipeline.run, pipeline_label)
            out += ["", f"#### Pipeline run {run}", ""]
            out += _md_rows(pipeline.rows, view.has_outcomes)
    return out


def _md_unplanned(view: ReportView) -> list[str]:
    if not view.unplanned:
        return []
    rows = [
        [
            _md_code(str(o.ref)),
            _md(str(o.action)),
            _md(str(o.result)),
            _md_message(outcome_message(o)),
        ]
        for o in view.unplanned
    ]
    header = ["Resource", "Action", "Result", "Message"]
    return ["", "## Outcomes of resources not in the plan", "", *_md_table(header, rows)]


def _md_rows(rows: Sequence[Row], with_results: bool) -> list[str]:
    header = ["Action", "Kind", "Scope", "ID", "Name", "Reasons", "Age", "Time left"]
    if with_results:
        header.append("Result")
    body = []
    for row in rows:
        d = row.decision
        reasons = _md(row.reasons)
        if d.warnings:
            reasons += ": " + "; ".join(_md_message(w) for w in d.warnings)
        if d.escalated:
            reasons += f" (**escalated**, {d.failures} failures)"
        left = f"**{_md(row.time_left)}**" if row.overdue else _md(row.time_left)
        cells = [
            f"**{_md(row.action)}**" if d.action.destructive else _md(row.action),
            _md(d.ref.kind_key),
            _md_code(str(d.ref.scope)),
            _md_code(d.ref.id),
            _md_code(d.resource.name),
            reasons,
            _md(row.age),
            left,
        ]
        if with_results:
            cells.append(_md_result(row.outcome))
        body.append(cells)
    return _md_table(header, body)


def _md_result(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    text = _md(str(outcome.result))
    if outcome.result is Result.FAILED:
        text = f"**{text}**"
    message = outcome_message(outcome)
    return f"{text}: {_md_message(message)}" if message else text


def _md_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: AbstractSet[int] = frozenset()
) -> list[str]:
    rule = ["---:" if i in numeric else "---" for i in range(len(header))]
    return ["| " + " | ".join(cells) + " |" for cells in [list(header), rule, *map(list, rows)]]


def _md(text: str) -> str:
    """Plain text for Markdown: cleaned, with every character Markdown could act on escaped."""
    return _MD_SPECIAL.sub(r"\\\1", clean(text, len(text) + 1))


def _md_label(value: str | None, label: Callable[[str | None], str]) -> str:
    """An owner or pipeline run as a code span, or its placeholder in italics."""
    return f"*{_md(label(None))}*" if value is None else _md_code(label(value))


def _md_message(text: str) -> str:
    """A message that may quote tag values or URLs: a code span, so nothing links."""
    return _md_code(text, MAX_MESSAGE) if text else ""


def _md_code(text: str, width: int = MAX_CELL) -> str:
    """A value as a code span: shown literally, never a link, emphasis or HTML.

    Pipes are escaped as GFM tables require (inside code spans too); the fence is longer
    than any run of backticks in the value.
    """
    value = clean(text, width).replace("|", "\\|")
    if not value:
        return '""'
    fence = "`" * (max((len(m) for m in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _share(count: BrakeCount) -> str:
    return f"{count.actions / max(count.population, 1):.0%}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


# -- one entry point for every format -----------------------------------------------------


def render(
    fmt: str,
    plan: Plan,
    *,
    dry_run: bool | None = None,
    outcomes: Sequence[Outcome] = (),
    collect_errors: Sequence[CollectError] = (),
    brake: Brake = None,
    config_sha256: str = "",
) -> str:
    """Render a plan in one of ``FORMATS``. Pure.

    Raises ValueError naming the valid formats for any other.
    """
    if fmt == "table":
        return render_table(plan, outcomes)
    if fmt == "json":
        reasons = brake.reasons if isinstance(brake, SafetyLimitExceeded) else brake or ()
        document = plan_to_json(
            plan, bool(dry_run), collect_errors, reasons, outcomes, config_sha256
        )
        return render_json(document)
    if fmt == "markdown":
        return render_markdown(plan, outcomes, collect_errors, brake, dry_run=dry_run)
    if fmt == "html":
        # Imported here: report_html builds on this module's view.
        from reaper.report_html import render_html

        return render_html(plan, outcomes, collect_errors, brake, dry_run=dry_run)
    raise ValueError(f"unknown format {fmt!r} (valid: {', '.join(FORMATS)})")
