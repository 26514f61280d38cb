"""Pure: reading a pinned plan (the JSON of ``reaper plan --output``) back for ``reaper apply``.

A pinned plan names exactly the resources an operator approved. It is refused when it is
older than ``safety.plan_max_age``, was made with a different config file, or names a
resource outside the configured kinds, accounts and regions (or, applied as one shard of
a sharded sweep, outside the scopes that shard owns).

A plan file is input anyone could have edited, so it only ever narrows what ``apply``
does: the items it names. Everything that decides whether and how to act (the decision,
the scope, the population the safety brake measures against) comes from live state and
the current config, never from the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reaper.durations import format_duration
from reaper.errors import ReaperError
from reaper.model import EVERY_REGION, Action, ResourceRef, Scope
from reaper.records import RecordError, decode_ref
from reaper.shards import Shard, owner, scope_key


class PlanRefused(ReaperError):
    """The pinned plan cannot be applied as it is (too old, other config, malformed, or
    naming resources outside the configured scope). Carries one problem per line."""

    def __init__(self, *problems: str) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class PinnedItem:
    ref: ResourceRef
    action: Action
    """The action the reviewer approved; ``apply`` acts only if live state still leads to it."""
    owner: str | None


@dataclass(frozen=True)
class PinnedPlan:
    generated_at: datetime
    config_sha256: str
    items: tuple[PinnedItem, ...]
    """Every item that is not ``keep``, each resource once (the first time it is named)."""
    source: str = "plan"
    """Where the plan was read from, for messages."""


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
    unique: dict[ResourceRef, PinnedItem] = {}
    for item in items:
        unique.setdefault(item.ref, item)
    return PinnedPlan(generated_at, plan_hash, tuple(unique.values()), source)


def outside_scope(pinned: PinnedPlan, scopes: Mapping[str, Sequence[Scope]]) -> list[str]:
    """A problem for each item outside the configured kinds and scopes. Pure.

    ``scopes`` maps each configured kind (``aws:ec2_instance``) to the scopes its resources
    can be in (``ResourceKind.resource_scopes()``); a scope whose region is ``EVERY_REGION``
    stands for every region of its account (a GCP project swept in all its zones), and an
    item there names its resource's own region (a GCP zone or GKE location), never none. A
    scope without a region (a Kubernetes cluster) matches only items without one. Consumed
    by :func:`refuse_outside_scope`.
    """
    problems = []
    for item in pinned.items:
        why = _scope_problem(item.ref, scopes)
        if why is not None:
            ref = item.ref
            where = f"{_shown(ref.kind_key)}:{_shown(ref.id)} in {_shown(str(ref.scope))}"
            problems.append(f"{pinned.source}: {where}: {why}")
    return problems


def _scope_problem(ref: ResourceRef, scopes: Mapping[str, Sequence[Scope]]) -> str | None:
    """Why ``ref`` is outside ``scopes`` (see :func:`outside_scope`), or None. Pure."""
    configured = scopes.get(ref.kind_key)
    account = _ACCOUNT_WORDS.get(ref.provider, "account")
    if configured is None:
        return f"kind {_shown(ref.kind_key)} is not configured ({_valid(scopes)})"
    if ref.scope.region == EVERY_REGION:
        return f"{_shown(EVERY_REGION)} is not a region: an item names its resource's own"
    if ref.scope in configured or (
        ref.scope.region and Scope(ref.scope.account, EVERY_REGION) in configured
    ):
        return None
    if ref.scope.account not in {s.account for s in configured}:
        accounts = {s.account for s in configured}
        return f"{account} {_shown(ref.scope.account)} is not configured ({_valid(accounts)})"
    regions = {s.region for s in configured if s.account == ref.scope.account} - {""}
    shown = {"all" if r == EVERY_REGION else r for r in regions}
    if regions:
        return f"region {_shown(ref.scope.region)} is not configured ({_valid(shown)})"
    return f"a {account} has no region, the plan names {_shown(ref.scope.region)}"


_ACCOUNT_WORDS = {"kubernetes": "cluster"}
"""What a scope's account is called, for providers that do not call it an account."""


SweepScopeOf = Callable[[ResourceRef], Scope]
"""The scope whose collection finds a resource (``ResourceKind.sweep_scope``): shards own
those. A resource's own scope, unless its kind lists whole accounts (a GCP project)."""


def _own_scope(ref: ResourceRef) -> Scope:
    return ref.scope


def outside_shard(
    pinned: PinnedPlan,
    scopes: Mapping[str, Sequence[Scope]],
    shard: Shard,
    sweep_scope: SweepScopeOf = _own_scope,
) -> list[str]:
    """A problem for each item in a configured scope that another shard owns. Pure.

    A shard writes its own audit trail and holds only its own trail's lock, so it acts
    only in the scopes it sweeps; an item another shard owns is applied with that shard's
    ``--shard``, or by an unsharded apply. Items outside ``scopes`` are
    :func:`outside_scope`'s. Consumed by :func:`refuse_outside_scope`.
    """
    problems = []
    for item in pinned.items:
        ref = item.ref
        if _scope_problem(ref, scopes) is not None:
            continue
        swept = sweep_scope(ref)
        if shard.owns(ref.provider, swept):
            continue
        key = scope_key(ref.provider, swept)
        problems.append(
            f"{pinned.source}: {_shown(ref.kind_key)}:{_shown(ref.id)} in "
            f"{_shown(str(ref.scope))}: shard {owner(key, shard.count)}/{shard.count} sweeps "
            f"{_shown(key)}, not this shard ({shard})"
        )
    return problems


def refuse_outside_scope(
    pinned: PinnedPlan,
    scopes: Mapping[str, Sequence[Scope]],
    shard: Shard | None = None,
    sweep_scope: SweepScopeOf = _own_scope,
) -> None:
    """Raise PlanRefused naming every item outside the configured scope. Pure.

    Called before anything is done: a plan edited to name a resource in an account,
    region or kind the config does not sweep is refused as a whole; with ``shard``, so is
    a plan naming a scope another shard sweeps.
    """
    problems = outside_scope(pinned, scopes)
    where = "the configured kinds, accounts and regions"
    if shard is not None:
        problems += outside_shard(pinned, scopes, shard, sweep_scope)
        where += f" or shard {shard}'s scopes"
    if problems:
        raise PlanRefused(
            *problems,
            f"{pinned.source}: {len(problems)} item(s) outside {where}; nothing was done",
        )


_PLAIN = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")


def _shown(value: str) -> str:
    """A value from the plan file for a message: as it is if plain, else quoted (so an
    edited plan cannot forge lines of output)."""
    return value if _PLAIN.fullmatch(value) else repr(value[:200])


def _valid(names: Collection[str]) -> str:
    return f"configured: {', '.join(sorted(names)) or 'none'}"


def _item(raw: Mapping[str, Any]) -> PinnedItem:
    return PinnedItem(decode_ref(raw), Action(raw["action"]), raw.get("owner"))
