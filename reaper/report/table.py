"""Pure: the fixed-width terminal table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reaper.model import Action, Outcome, Plan, Resource
from reaper.report.text import ACTION_ORDER, age_text, clip, due_text


def render_table(plan: Plan, outcomes: Sequence[Outcome] = ()) -> str:
    """A fixed-width table, most destructive first, then a totals line."""
    results = {o.ref: o for o in outcomes}
    header = ["ACTION", "KIND", "SCOPE", "ID", "NAME", "OWNER", "AGE", "DUE", "REASONS"]
    if outcomes:
        header.append("RESULT")
    rows = [header]
    ordered = sorted(plan.decisions, key=lambda d: (ACTION_ORDER[d.action], d.ref))
    for d in ordered:
        r = d.resource
        row = [
            str(d.action),
            r.ref.kind_key,
            str(r.ref.scope),
            r.ref.id,
            clip(r.name, 28),
            clip(r.owner or "-", 16),
            age_text(r, plan.created_at),
            due_text(d, plan.created_at),
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
            [
                r.ref.kind_key,
                str(r.ref.scope),
                r.ref.id,
                clip(r.name, 28),
                r.state,
                age_text(r, now),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return (
        "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        )
        + "\n"
    )
