"""Pure: the JSON plans of several shards (``reaper plan|run --format json``) read back and
combined into one, for one report in any format (``reaper report``).

Shards sweep disjoint scopes, so their plans are disjoint; a resource in two plans means
the plans do not belong together (two runs of one shard, or shards of different counts)
and is refused. The merged plan keeps the config's SHA-256 when every part was made with
the same config, so ``reaper apply`` accepts a merged plan as it does a single one, and
it is dated by its oldest part, which ``safety.plan_max_age`` then measures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reaper.errors import ReaperError
from reaper.model import (
    Action,
    CollectError,
    Decision,
    Outcome,
    Plan,
    Reason,
    Resource,
    ResourceRef,
    Result,
    Scope,
)
from reaper.records import RecordError, decode_ref


class PlanDocumentError(ReaperError):
    """A plan document cannot be read, or plans cannot be merged; names the source."""


@dataclass(frozen=True)
class PlanDocument:
    """One JSON plan, read back."""

    source: str
    plan: Plan
    dry_run: bool
    outcomes: tuple[Outcome, ...]
    collect_errors: tuple[CollectError, ...]
    brake: tuple[str, ...]
    config_sha256: str


def read_plan(document: object, source: str) -> PlanDocument:
    """A JSON plan as ``plan_to_json`` wrote it. Pure. Raises PlanDocumentError."""
    if not isinstance(document, Mapping) or not isinstance(document.get("decisions"), list):
        raise PlanDocumentError(f"{source}: not a reaper plan (no decisions list)")
    try:
        created_at = _time(document["generated_at"])
        if created_at is None:
            raise ValueError("generated_at is null")
        decisions, outcomes = [], []
        for raw in document["decisions"]:
            decision = _decision(raw)
            decisions.append(decision)
            if raw.get("result") is not None:
                outcomes.append(
                    Outcome(
                        decision.ref,
                        decision.action,
                        Result(raw["result"]),
                        str(raw.get("message") or ""),
                    )
                )
        population = {str(k): int(v) for k, v in document["summary"]["population"].items()}
        errors = tuple(_collect_error(e) for e in document.get("collect_errors", []))
        brake = tuple(str(r) for r in document.get("safety_brake", {}).get("reasons", []))
        plan = Plan(created_at, tuple(decisions), population)
        return PlanDocument(
            source,
            plan,
            bool(document.get("dry_run", True)),
            tuple(outcomes),
            errors,
            brake,
            str(document.get("config_sha256", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError, RecordError) as err:
        raise PlanDocumentError(f"{source}: malformed plan: {err!r}") from None


def merge_plans(parts: Sequence[PlanDocument]) -> PlanDocument:
    """One plan of disjoint parts. Pure. Raises PlanDocumentError on an overlap.

    Decisions, outcomes and collect errors are concatenated (in part order),
    populations added up per kind, brake reasons kept with their part's source; dry run
    only when every part was; dated by the oldest part.
    """
    if not parts:
        raise PlanDocumentError("no plans to merge")
    seen: dict[ResourceRef, int] = {}
    for index, part in enumerate(parts):
        for decision in part.plan.decisions:
            earlier = seen.setdefault(decision.ref, index)
            if earlier != index:
                raise PlanDocumentError(
                    f"{decision.ref} ({decision.ref.scope}) is in both {parts[earlier].source} "
                    f"and {part.source}: the plans overlap, so they are not the shards of one "
                    "sweep"
                )
    population: Counter[str] = Counter()
    for part in parts:
        population.update(part.plan.population)
    digests = {part.config_sha256 for part in parts}
    plan = Plan(
        created_at=min(part.plan.created_at for part in parts),
        decisions=tuple(d for part in parts for d in part.plan.decisions),
        population=dict(sorted(population.items())),
    )
    return PlanDocument(
        source=", ".join(part.source for part in parts),
        plan=plan,
        dry_run=all(part.dry_run for part in parts),
        outcomes=tuple(o for part in parts for o in part.outcomes),
        collect_errors=tuple(e for part in parts for e in part.collect_errors),
        brake=tuple(f"{part.source}: {reason}" for part in parts for reason in part.brake),
        config_sha256=digests.pop() if len(digests) == 1 else "",
    )


def _decision(raw: Mapping[str, Any]) -> Decision:
    ref = decode_ref(raw)
    resource = Resource(
        ref=ref,
        name=str(raw.get("name") or ref.id),
        created_at=_time(raw.get("created_at")),
        state=str(raw.get("state") or ""),
        pipeline_run=raw.get("pipeline_run"),
        owner=raw.get("owner"),
    )
    intended = raw.get("intended")
    return Decision(
        resource=resource,
        action=Action(raw["action"]),
        reasons=tuple(Reason(r) for r in raw.get("reasons", [])),
        deadline=_time(raw.get("deadline")),
        not_before=_time(raw.get("not_before")),
        warnings=tuple(str(w) for w in raw.get("warnings", [])),
        intended=Action(intended) if intended else None,
        failures=int(raw.get("failures", 0)),
        escalated=bool(raw.get("escalated", False)),
    )


def _collect_error(raw: Mapping[str, Any]) -> CollectError:
    account, _, region = str(raw["scope"]).partition("/")
    return CollectError(str(raw["kind"]), Scope(account, region), str(raw["message"]))


def _time(value: object) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed


__all__ = ["PlanDocument", "PlanDocumentError", "merge_plans", "read_plan"]
