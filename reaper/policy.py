"""Pure decisions: which resources are stale, and whether a plan is safe to carry out.

No I/O and no clock: ``now`` is read once per sweep by the caller and passed in.
``decide`` is consumed by ``make_plan``; ``make_plan`` by ``SweepService.plan``;
``check_brake`` by the actuator's caller before the first action.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction

from reaper.config import PolicySettings, SafetySettings, TagKeys
from reaper.durations import format_duration, parse_duration, parse_timestamp
from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.lifecycle import (
    QUARANTINED_AT,
    Lifecycle,
    LifecycleTagError,
    State,
    StateSigner,
    loose_key,
    read_lifecycle,
)
from reaper.model import Action, Decision, Plan, Reason, Resource
from reaper.run_policy import earliest, kept_reason, litter_at
from reaper.versions import parse_version

# Values of the protect tag that mean "not protected". Anything else, including an empty
# value, protects: when in doubt, keep.
_NOT_PROTECTED = frozenset({"false", "no", "0", "off"})


def is_protected(resource: Resource, tags: TagKeys) -> bool:
    """True when the protect tag is present with any value but an explicit false. Pure.

    When in doubt, keep: the key matches in any case and with ``_`` for ``-``
    (``Reaper_Protect``), and any one such tag that protects is enough.
    """
    return protects(resource.tags, tags)


def protects(tags: Mapping[str, str], keys: TagKeys) -> bool:
    """:func:`is_protected` for a bare tag map: a resource's, or one of its dependants'
    (an EKS node group, a Fargate profile). Pure."""
    return any(
        protect_key(key, keys) and value.strip().lower() not in _NOT_PROTECTED
        for key, value in tags.items()
    )


def protect_key(key: str, keys: TagKeys) -> bool:
    """Whether ``key`` is the protect key in one of its spellings (any case, ``_`` for
    ``-``, stray spaces): what :func:`protects` reads. Pure."""
    return loose_key(key) == loose_key(keys.protect)


class _Rules:
    """A policy's per-kind answers (TTL, action per reason), each worked out once.

    They depend only on the frozen settings, and a plan asks them once or twice per
    resource: looked up afresh, they took a fifth of a 100k-resource plan's time.
    """

    __slots__ = ("_actions", "_ttls", "policy")

    def __init__(self, policy: PolicySettings) -> None:
        self.policy = policy
        self._actions: dict[tuple[str, str, str], Action] = {}
        self._ttls: dict[tuple[str, str], timedelta] = {}

    def action(self, provider: str, kind: str, reason: str) -> Action:
        key = (provider, kind, reason)
        found = self._actions.get(key)
        if found is None:
            found = _ACTIONS[self.policy.action_for(provider, kind, reason)]
            self._actions[key] = found
        return found

    def ttl(self, provider: str, kind: str) -> timedelta:
        key = (provider, kind)
        found = self._ttls.get(key)
        if found is None:
            found = self._ttls[key] = self.policy.ttl_for(provider, kind)
        return found


def decide(
    resource: Resource,
    policy: PolicySettings,
    tags: TagKeys,
    now: datetime,
    signer: StateSigner | None = None,
) -> Decision:
    """Decide what to do with one resource at ``now``. Pure.

    Safety rules, in order: no pipeline tag -> keep; reaper's own tags not signed by
    ``signer`` -> ignored (unmarked; none verify without a signer), and no delete or
    quarantine on this sweep (marked first, even without a grace period); reaper's own tags
    unreadable -> keep; protect tag -> keep (and unmark); any reaper tag that cannot be
    parsed -> keep with ``invalid-tag``; between two lifecycle states (``transitioning``)
    -> keep with ``in-transition``; no way to compute a deadline -> keep. Only then can
    a passed deadline (or a run its CI system said finished, ``reaper.run_policy``) lead
    to an action, and only after the resource has been marked for
    the grace period.
    """
    return _decide(resource, _Rules(policy), tags, now, signer or _no_key(tags))


def _no_key(tags: TagKeys) -> StateSigner:
    """A signer without a key: under it, no owned tag verifies."""
    return StateSigner(None, tags.model_dump().values())


UNVERIFIED = (
    "reaper's own tags on it are not signed with the state key (forged, or written "
    "without the key): ignored, it counts as unmarked"
)


def _decide(
    resource: Resource, rules: _Rules, tags: TagKeys, now: datetime, signer: StateSigner
) -> Decision:
    if tags.pipeline not in resource.tags:
        return Decision(resource, Action.KEEP, (Reason.NOT_PIPELINE,))
    if resource.deleting is not None:
        return _deleting(resource, now)
    if not signer.verify(resource.ref, resource.tags):
        decision = _decide_life(resource, rules, tags, now, _UNMARKED)
        if decision.action.destructive:
            # Never acted on in the sweep that finds tags posing as reaper's, even without
            # a grace period: marked first, which replaces them with reaper's own.
            decision = replace(
                decision,
                action=Action.MARK,
                intended=decision.action,
                not_before=now + rules.policy.grace_period,
            )
        return replace(decision, verified=False, warnings=(*decision.warnings, UNVERIFIED))
    try:
        life = read_lifecycle(resource.tags)
    except LifecycleTagError as err:
        return Decision(resource, Action.KEEP, (Reason.INVALID_TAG,), warnings=(str(err),))
    return _decide_life(resource, rules, tags, now, life)


_UNMARKED = Lifecycle()


def _deleting(resource: Resource, now: datetime) -> Decision:
    """A resource whose deletion is under way: kept (in progress), escalated once stuck."""
    deletion = resource.deleting
    assert deletion is not None
    if now < deletion.stuck_at:
        return Decision(
            resource, Action.KEEP, (Reason.DELETING,), deletion.requested_at, deletion.stuck_at
        )
    held = "; ".join(deletion.conditions) or "the provider reports nothing holding it up"
    since = format_duration(max(now - deletion.requested_at, timedelta(0)))
    warning = f"still deleting {since} after its deletion was requested: {held}"
    return Decision(
        resource,
        Action.KEEP,
        (Reason.DELETING,),
        deletion.requested_at,
        warnings=(warning,),
        escalated=True,
        details=deletion.conditions,
    )


def _decide_life(
    resource: Resource, rules: _Rules, tags: TagKeys, now: datetime, life: Lifecycle
) -> Decision:
    """The decision on a pipeline resource whose lifecycle state is ``life``."""
    policy = rules.policy
    if is_protected(resource, tags):
        if life.state is State.MARKED:
            return Decision(resource, Action.UNMARK, (Reason.PROTECTED,))
        note = ("quarantined; restore it with `reaper release`",) if life.state else ()
        return Decision(resource, Action.KEEP, (Reason.PROTECTED,), warnings=note)

    due, warnings = _deadline(resource, rules, tags)
    if warnings:
        return Decision(resource, Action.KEEP, (Reason.INVALID_TAG,), warnings=warnings)

    if resource.transitioning:
        # Neither marked, acted on nor re-quarantined while it changes state: the next
        # sweep sees where it settled (a stopped leftover, a quarantine that held).
        state = resource.state or "changing state"
        detail = f"{state}: between two states, decided again on the next sweep"
        return Decision(resource, Action.KEEP, (Reason.IN_TRANSITION,), details=(detail,))

    if life.state is State.QUARANTINED:
        if life.quarantined_at is None:
            warning = f"quarantined without a {QUARANTINED_AT} tag"
            return Decision(resource, Action.KEEP, (Reason.INVALID_TAG,), warnings=(warning,))
        release_by = life.quarantined_at + policy.quarantine_ttl
        if now >= release_by:
            expired = Decision(
                resource, Action.DELETE, (Reason.QUARANTINE_EXPIRED,), release_by, release_by
            )
            return _with_backoff(expired, life, policy, now)
        if resource.isolated is not True:
            # The tag says quarantined, the resource does not read back as isolated: an
            # interrupted or failed quarantine, or drift (someone reopened it). Again, now.
            again = Decision(
                resource,
                Action.QUARANTINE,
                (Reason.QUARANTINE_INCOMPLETE,),
                release_by,
                now,
                details=("quarantined, but its isolation did not read back as complete",),
            )
            return _with_backoff(again, life, policy, now)
        return Decision(resource, Action.KEEP, (Reason.QUARANTINED,), deadline=release_by)

    risks, details = _risks(resource, policy, now)
    # What its CI run's system said (reaper.run_policy); None for most resources, and then
    # the lines below decide exactly as they would without pipeline sources.
    has_run = resource.run is not None
    litter = litter_at(resource) if has_run else None
    run_due = litter is not None and now >= litter
    if due is None and not risks and not run_due:
        reason = kept_reason(resource, Reason.UNKNOWN_AGE) if has_run else Reason.UNKNOWN_AGE
        return Decision(resource, Action.KEEP, (reason,), deadline=litter)
    past_deadline = due is not None and now >= due[0]
    if not past_deadline and not risks and not run_due:
        assert due is not None
        action = Action.UNMARK if life.state is State.MARKED else Action.KEEP
        if not has_run:
            return Decision(resource, action, (Reason.WITHIN_TTL,), deadline=due[0])
        reason = kept_reason(resource, Reason.WITHIN_TTL)
        return Decision(resource, action, (reason,), deadline=earliest(due[0], litter))
    reasons = (
        *([due[1]] if past_deadline and due else []),
        *([Reason.RUN_FINISHED] if run_due else []),
        *risks,
    )
    deadline = due[0] if past_deadline and due else now
    if run_due:
        assert litter is not None
        deadline = min(deadline, litter) if past_deadline else litter
    provider, kind = resource.ref.provider, resource.ref.kind
    # Several reasons: the most destructive of their actions wins (delete over quarantine).
    intended = max((rules.action(provider, kind, r) for r in reasons), key=_DESTRUCTIVENESS)

    marked = life.state is State.MARKED and life.marked_at is not None
    if marked and life.action == intended and life.marked_at is not None:
        act_at = life.marked_at + policy.grace_period
        if now < act_at:
            return Decision(
                resource,
                Action.KEEP,
                (*reasons, Reason.IN_GRACE),
                deadline,
                act_at,
                intended=intended,
                details=details,
            )
        return _with_backoff(
            Decision(resource, intended, reasons, deadline, act_at, details=details),
            life,
            policy,
            now,
        )
    if not policy.grace_period:
        return _with_backoff(
            Decision(resource, intended, reasons, deadline, deadline, details=details),
            life,
            policy,
            now,
        )
    # Not marked yet, or marked for another action: announce what will happen and when.
    return Decision(
        resource,
        Action.MARK,
        reasons,
        deadline,
        now + policy.grace_period,
        intended=intended,
        details=details,
    )


_DESTRUCTIVENESS = [Action.QUARANTINE, Action.DELETE].index
_ACTIONS = {str(a): a for a in Action}


def _sort_key(resource: Resource) -> tuple[str, str, str, str, str]:
    ref = resource.ref
    return (ref.provider, ref.kind, ref.scope.account, ref.scope.region, ref.id)


def _risks(
    resource: Resource, policy: PolicySettings, now: datetime
) -> tuple[tuple[Reason, ...], tuple[str, ...]]:
    """Unpatched and exposed findings, with a human detail for each. Pure."""
    details: list[str] = []
    image = resource.image
    if image is not None:
        if image.missing:
            details.append(f"image {image.id} no longer exists")
        elif image.deprecated_at is not None and image.deprecated_at <= now:
            details.append(f"image {image.id} is deprecated since {image.deprecated_at:%Y-%m-%d}")
        elif image.created_at is not None and now - image.created_at > policy.max_image_age:
            details.append(
                f"image {image.id} is {(now - image.created_at).days}d old "
                f"(max {policy.max_image_age.days}d)"
            )
    if resource.kubernetes_version is not None:
        details.extend(_outdated_kubernetes(resource, policy, now))
    reasons: list[Reason] = [Reason.UNPATCHED] if details else []
    if resource.exposures:
        reasons.append(Reason.EXPOSED)
        details.extend(resource.exposures)
    elif resource.public:
        open_ports = sorted(
            {
                "all ports" if r.all_ports else str(p)
                for r in resource.open_to_world
                for p in policy.exposed_ports
                if r.all_ports or r.covers(p)
            }
        )
        if open_ports:
            reasons.append(Reason.EXPOSED)
            details.append(f"public and open to the internet on {', '.join(open_ports)}")
    return tuple(reasons), tuple(details)


def _outdated_kubernetes(resource: Resource, policy: PolicySettings, now: datetime) -> list[str]:
    """Below the minimum version, or past the end of support its provider reported."""
    version = resource.kubernetes_version or ""
    try:
        current = parse_version(version)
    except ValueError:
        return []  # an odd version string is not evidence of anything
    found = []
    if policy.min_kubernetes_version and current < parse_version(policy.min_kubernetes_version):
        found.append(f"Kubernetes {version} is below {policy.min_kubernetes_version}")
    ends = resource.support_ends
    if ends is not None and now.date() > ends:
        found.append(f"Kubernetes {version} is past end of standard support ({ends})")
    return found


def _deadline(
    resource: Resource, rules: _Rules, tags: TagKeys
) -> tuple[tuple[datetime, Reason] | None, tuple[str, ...]]:
    """The resource's deadline and why (None if unknowable), and the tag problems found."""
    warnings: list[str] = []
    ttl = rules.ttl(resource.ref.provider, resource.ref.kind)
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
        return None, tuple(warnings)
    # An explicit expiry is the owner's word and wins over any TTL, in both directions.
    if expires_at is not None:
        return (expires_at, Reason.EXPIRY_PASSED), ()
    if resource.created_at is not None:
        return (resource.created_at + ttl, Reason.TTL_EXPIRED), ()
    return None, ()


def _with_backoff(
    decision: Decision, life: Lifecycle, policy: PolicySettings, now: datetime
) -> Decision:
    """Hold back an action on a resource that failed recently; escalate repeated failures."""
    if life.failures == 0:
        return decision
    retry = policy.retry
    escalated = life.failures >= retry.escalate_after
    wait = min(retry.backoff * 2 ** min(life.failures - 1, 20), retry.max_backoff)
    next_try = life.last_failure_at + wait if life.last_failure_at else now
    if now < next_try:
        return replace(
            decision,
            action=Action.KEEP,
            reasons=(*decision.reasons, Reason.RETRY_BACKOFF),
            not_before=next_try,
            intended=decision.action,
            failures=life.failures,
            escalated=escalated,
        )
    return replace(decision, failures=life.failures, escalated=escalated)


def make_plan(
    resources: Iterable[Resource],
    policy: PolicySettings,
    tags: TagKeys,
    now: datetime,
    signer: StateSigner | None = None,
) -> Plan:
    """Decide on every resource and count the pipeline-tagged population per kind. Pure.

    Resources seen twice (the same ref) are decided once. ``signer`` verifies reaper's own
    tags (see :func:`decide`).
    """
    with _cyclic_gc_paused():
        unique = {r.ref: r for r in resources}
        # A flat key: comparing the nested frozen dataclasses field by field costs more
        # than deciding (measured by bench/sweep.py).
        ordered = sorted(unique.values(), key=_sort_key)
        rules = _Rules(policy)
        key = signer or _no_key(tags)
        decisions = tuple(_decide(r, rules, tags, now, key) for r in ordered)
        population = pipeline_population(unique.values(), tags)
    return Plan(created_at=now, decisions=decisions, population=population)


def pipeline_population(resources: Iterable[Resource], tags: TagKeys) -> dict[str, int]:
    """The pipeline-tagged resources per ``provider:kind``, which the brake measures
    against. Pure; consumed by ``make_plan`` and by ``SweepService.apply``."""
    return dict(Counter(r.ref.kind_key for r in resources if tags.pipeline in r.tags))


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Hold off the cycle collector while a plan is made.

    Deciding allocates a few objects per resource and no reference cycles (reference
    counting frees them all), but the allocations trigger collections that scan every
    collected resource again: a third of a 100k-resource plan's time (bench/sweep.py).
    Only the thread that turned the collector off turns it back on.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def check_brake(plan: Plan, safety: SafetySettings) -> None:
    """Raise SafetyLimitExceeded if the plan's destructive actions exceed the limits. Pure.

    Counts deletions and quarantines, in total against ``max_actions_per_sweep`` and per
    provider/kind against ``max_fraction`` of that kind's pipeline-tagged population; the
    fraction only counts for a kind with more than ``min_actions_for_fraction`` actions.
    """
    acting = Counter(d.ref.kind_key for d in plan.decisions if d.action.destructive)
    check_counts(acting, plan.population, safety)


def check_counts(
    acting: Mapping[str, int], population: Mapping[str, int], safety: SafetySettings
) -> None:
    """:func:`check_brake` on counts: destructive actions and population per provider/kind.

    Pure. Also consumed by the global brake of sharded sweeps, with every shard's counts
    added up (``reaper.global_brake``).
    """
    counts = [
        BrakeCount(group=key, actions=n, population=population.get(key, 0))
        for key, n in sorted(acting.items())
        if n
    ]
    total = sum(acting.values())
    reasons = []
    if total > safety.max_actions_per_sweep:
        reasons.append(
            f"{total} actions planned, more than "
            f"max_actions_per_sweep={safety.max_actions_per_sweep}"
        )
    for count in counts:
        if count.actions <= safety.min_actions_for_fraction:
            continue
        # Exact arithmetic: 57 of 100 must pass max_fraction=0.57 (0.57 * 100 < 57 in floats).
        if Fraction(count.actions) > Fraction(str(safety.max_fraction)) * count.population:
            reasons.append(
                f"{count.group}: {count.actions} of {count.population} pipeline resources "
                f"planned ({count.actions / max(count.population, 1):.0%}), more than "
                f"max_fraction={safety.max_fraction:g}"
            )
    if reasons:
        raise SafetyLimitExceeded(reasons, counts)
