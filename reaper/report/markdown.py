"""Pure: the Markdown report, for merge requests, tickets and chat."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

from reaper.errors import BrakeCount
from reaper.model import CollectError, Outcome, Plan, Result
from reaper.report.text import MAX_CELL, MAX_MESSAGE, clean
from reaper.report.view import (
    Brake,
    ReportView,
    Row,
    actions_line,
    build_view,
    mode_line,
    outcome_message,
    owner_label,
    pipeline_label,
    quiet_note,
)

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
