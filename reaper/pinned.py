"""Pure: reading a pinned plan (the JSON of ``reaper plan --output``) back for ``reaper apply``.

A pinned plan names exactly the resources an operator approved. It is refused when it is
older than ``safety.plan_max_age`` or was made with a different config file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reaper.durations import format_duration
from reaper.errors import ReaperError
from reaper.model import Action, ResourceRef
from reaper.records import RecordError, decode_ref


class PlanRefused(ReaperError):
    """The pinned plan cannot be applied as it is (too old, other config, malformed)."""


@dataclass(frozen=True)
class PinnedItem:
    ref: ResourceRef
    action: Action
    owner: str | None


@dataclass(frozen=True)
class PinnedPlan:
    generated_at: datetime
    config_sha256: str
    items: tuple[PinnedItem, ...]
    population: Mapping[str, int]


def read_pinned(
    document: object, source: str, config_sha256: str, max_age: timedelta, now: datetime
) -> PinnedPlan:
    """Validate a plan document against the current config and clock. Pure."""
    if not isinstance(document, dict) or not isinstance(document.get("decisions"), list):
        raise PlanRefused(f"{source}: not a reaper plan (no decisions list)")
    try:
        generated_at = datetime.fromisoformat(str(document["generated_at"]))
        plan_hash = str(document["config_sha256"])
        items = tuple(_item(d) for d in document["decisions"] if d.get("action") != "keep")
        population = {str(k): int(v) for k, v in document["summary"]["population"].items()}
    except (KeyError, TypeError, ValueError, AttributeError, RecordError) as err:
        raise PlanRefused(f"{source}: malformed plan: {err!r}") from None
    if generated_at.tzinfo is None:
        raise PlanRefused(f"{source}: generated_at has no UTC offset")
    age = now - generated_at
    if age > max_age:
        raise PlanRefused(
            f"{source}: plan is {format_duration(age)} old, older than "
            f"safety.plan_max_age={format_duration(max_age)}; make a new plan"
        )
    if age < -timedelta(minutes=5):
        raise PlanRefused(f"{source}: plan is dated in the future ({generated_at.isoformat()})")
    if plan_hash != config_sha256:
        raise PlanRefused(
            f"{source}: plan was made with a different config "
            f"(sha256 {plan_hash[:12]}…, current {config_sha256[:12]}…); make a new plan"
        )
    return PinnedPlan(generated_at, plan_hash, items, population)


def _item(raw: Mapping[str, Any]) -> PinnedItem:
    return PinnedItem(decode_ref(raw), Action(raw["action"]), raw.get("owner"))
