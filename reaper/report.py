"""Renders plans and sweep results for people (table) and programs (JSON). Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from reaper.durations import format_duration
from reaper.model import Action, CollectError, Decision, Outcome, Plan, Resource

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
