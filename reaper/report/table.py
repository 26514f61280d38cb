"""Pure: the fixed-width terminal table.

Every value from a resource (id, name, owner, state, scope) passes
:func:`reaper.report.text.clean` first: a tag value cannot add a row, move the cursor with
an ANSI escape or reorder a row with a bidi override.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reaper.model import Action, Outcome, Plan, Resource
from reaper.report.text import ACTION_ORDER, age_text, clean, due_text

ID_WIDTH = 256
"""Ids are shown whole (they are what `reaper release` takes), up to this length."""
NAME_WIDTH = 28
OWNER_WIDTH = 16


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
            clean(r.ref.kind_key),
            clean(str(r.ref.scope)),
            clean(r.ref.id, ID_WIDTH),
            clean(r.name, NAME_WIDTH),
            clean(r.owner or "-", OWNER_WIDTH) or "-",
            age_text(r, plan.created_at),
            due_text(d, plan.created_at),
            ",".join(d.reasons),
        ]
        if outcomes:
            outcome = results.get(d.ref)
            row.append(str(outcome.result) if outcome else "-")
        rows.append(row)
    lines = _aligned(rows)
    totals = ", ".join(f"{plan.count(a)} {a}" for a in Action)
    lines.append(f"\n{len(plan.decisions)} pipeline resources: {totals}")
    return "\n".join(lines) + "\n"


def render_resources(resources: Sequence[Resource], now: datetime) -> str:
    """A short table of resources, for showing what is left after a sweep."""
    rows = [["KIND", "SCOPE", "ID", "NAME", "STATE", "AGE"]]
    for r in sorted(resources, key=lambda x: x.ref):
        rows.append(
            [
                clean(r.ref.kind_key),
                clean(str(r.ref.scope)),
                clean(r.ref.id, ID_WIDTH),
                clean(r.name, NAME_WIDTH),
                clean(r.state),
                age_text(r, now),
            ]
        )
    return "\n".join(_aligned(rows)) + "\n"


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
