"""Pure: the JSON plan, for programs and for ``reaper apply``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from reaper.model import Action, CollectError, Decision, Outcome, Plan
from reaper.records import encode_ref


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
    document = _head(plan, dry_run, errors, brake, config_sha256)
    document["decisions"] = list(_decisions(plan, outcomes))
    return document


def plan_json_chunks(
    plan: Plan,
    dry_run: bool,
    errors: Sequence[CollectError] = (),
    brake: Sequence[str] = (),
    outcomes: Sequence[Outcome] = (),
    config_sha256: str = "",
) -> Iterator[str]:
    """The text of ``render_json(plan_to_json(...))``, in pieces, one per decision. Pure.

    Neither the whole document nor the whole text is ever held: an organization's plan of
    40,000 decisions is over 100 MB as dicts and ``json.dumps`` chunks, a few KB this way.
    """
    head = json.dumps(_head(plan, dry_run, errors, brake, config_sha256), indent=2)
    # The head ends in "\n}": the decisions go in before that closing brace, last, as
    # plan_to_json puts them.
    yield head[: -len("\n}")] + ',\n  "decisions": ['
    first = True
    for item in _decisions(plan, outcomes):
        text = json.dumps(item, indent=2).replace("\n", "\n    ")
        yield ("\n    " if first else ",\n    ") + text
        first = False
    yield "]\n}\n" if first else "\n  ]\n}\n"


def _decisions(plan: Plan, outcomes: Sequence[Outcome]) -> Iterator[dict[str, Any]]:
    results = {o.ref: o for o in outcomes}
    for d in plan.decisions:
        item = _decision(d, plan.created_at)
        outcome = results.get(d.ref)
        if outcome is not None:
            item["result"] = str(outcome.result)
            item["message"] = outcome.message
        yield item


def _head(
    plan: Plan,
    dry_run: bool,
    errors: Sequence[CollectError],
    brake: Sequence[str],
    config_sha256: str,
) -> dict[str, Any]:
    """Everything of the JSON plan but its decisions."""
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
    }


def _decision(d: Decision, now: datetime) -> dict[str, Any]:
    r = d.resource
    return {
        **encode_ref(r.ref),
        "name": r.name,
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
