"""Pure decisions: which resources are stale, and whether a plan is safe to carry out.

No I/O and no clock: ``now`` is read once per sweep by the caller and passed in.
``decide`` is consumed by ``make_plan``; ``make_plan`` by ``app.run_sweep`` and the CLI;
``check_brake`` by the actuator's caller before the first action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction

from reaper.config import PolicySettings, SafetySettings, TagKeys
from reaper.durations import parse_duration, parse_timestamp
from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.model import Action, Decision, Plan, Reason, Resource

# Values of the protect tag that mean "not protected". Anything else, including an empty
# value, protects: when in doubt, keep.
_NOT_PROTECTED = frozenset({"false", "no", "0", "off"})


def is_protected(resource: Resource, tags: TagKeys) -> bool:
    """True when the protect tag is present with any value but an explicit false. Pure."""
    value = resource.tags.get(tags.protect)
    return value is not None and value.strip().lower() not in _NOT_PROTECTED


def decide(resource: Resource, policy: PolicySettings, tags: TagKeys, now: datetime) -> Decision:
    """Decide what to do with one resource at ``now``. Pure.

    Safety rules, in order: no pipeline tag -> keep; protect tag -> keep; any reaper tag
    that cannot be parsed -> keep with ``invalid-tag``; no way to compute a deadline -> keep.
    Only then can a passed deadline lead to a delete.
    """
    if tags.pipeline not in resource.tags:
        return Decision(resource, Action.KEEP, (Reason.NOT_PIPELINE,))
    if is_protected(resource, tags):
        return Decision(resource, Action.KEEP, (Reason.PROTECTED,))

    warnings: list[str] = []
    ttl = policy.ttl_for(resource.ref.provider, resource.ref.kind)
    ttl_value = resource.tags.get(tags.ttl)
    if ttl_value is not None:
        try:
            ttl = parse_duration(ttl_value)
        except ValueError as err:
            warnings.append(f"tag {tags.ttl}: {err}")
    expires_at = None
    expiry_value = resource.tags.get(tags.expires_at)
    if expiry_value is not None:
        try:
            expires_at = parse_timestamp(expiry_value)
        except ValueError as err:
            warnings.append(f"tag {tags.expires_at}: {err}")
    if warnings:
        return Decision(resource, Action.KEEP, (Reason.INVALID_TAG,), warnings=tuple(warnings))

    # An explicit expiry is the owner's word and wins over any TTL, in both directions.
    if expires_at is not None:
        deadline, reason = expires_at, Reason.EXPIRY_PASSED
    elif resource.created_at is not None:
        deadline, reason = resource.created_at + ttl, Reason.TTL_EXPIRED
    else:
        return Decision(resource, Action.KEEP, (Reason.UNKNOWN_AGE,))

    if now < deadline:
        return Decision(resource, Action.KEEP, (Reason.WITHIN_TTL,), deadline=deadline)
    return Decision(resource, Action.DELETE, (reason,), deadline=deadline, not_before=deadline)


def make_plan(
    resources: Iterable[Resource], policy: PolicySettings, tags: TagKeys, now: datetime
) -> Plan:
    """Decide on every resource and count the pipeline-tagged population per kind. Pure.

    Resources seen twice (the same ref) are decided once.
    """
    unique = {r.ref: r for r in resources}
    decisions = tuple(decide(r, policy, tags, now) for _, r in sorted(unique.items()))
    population = Counter(r.ref.kind_key for r in unique.values() if tags.pipeline in r.tags)
    return Plan(created_at=now, decisions=decisions, population=dict(population))


def check_brake(plan: Plan, safety: SafetySettings) -> None:
    """Raise SafetyLimitExceeded if the plan's destructive actions exceed the limits. Pure.

    Counts deletions and quarantines, in total against ``max_actions_per_sweep`` and per
    provider/kind against ``max_fraction`` of that kind's pipeline-tagged population.
    """
    acting = Counter(d.ref.kind_key for d in plan.decisions if d.action.destructive)
    counts = [
        BrakeCount(group=key, actions=n, population=plan.population.get(key, 0))
        for key, n in sorted(acting.items())
    ]
    total = sum(acting.values())
    reasons = []
    if total > safety.max_actions_per_sweep:
        reasons.append(
            f"{total} actions planned, more than "
            f"max_actions_per_sweep={safety.max_actions_per_sweep}"
        )
    for count in counts:
        # Exact arithmetic: 57 of 100 must pass max_fraction=0.57 (0.57 * 100 < 57 in floats).
        if Fraction(count.actions) > Fraction(str(safety.max_fraction)) * count.population:
            reasons.append(
                f"{count.group}: {count.actions} of {count.population} pipeline resources "
                f"planned ({count.actions / max(count.population, 1):.0%}), more than "
                f"max_fraction={safety.max_fraction:g}"
            )
    if reasons:
        raise SafetyLimitExceeded(reasons, counts)
