"""Pure: one safety brake for all the shards of a sweep, agreed without a coordinator.

Each shard of a sweep (the pods of one Indexed Job) publishes a :class:`ShardCounts`
record of its plan to a shared store under the sweep's group (the Job's name), then reads
the group until it has all N records or its wait is over. The first shard to get there
decides (:func:`decide`) and stores its :class:`Verdict` create-only; every other shard's
write of a verdict finds that one and follows it, and a shard that reads a stored verdict
follows it without deciding. So each shard acts on the one stored verdict, whatever its
own reading was: all act or none does.

A verdict is ACT only when all N records were read, each of this group and shard count,
no shard's own brake tripped, and their sum is within the ``safety`` limits, checked
exactly as the per-shard brake checks one plan (:func:`verdict`). A wait that ended first,
or a store that could not be written or read, makes it STOP: fail closed.

Consumed by :class:`reaper.brake_sync.BrakeSync`, which does the publishing, waiting and
storing.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reaper.config import SafetySettings
from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.model import Plan
from reaper.policy import check_counts

FORMAT = 2
"""Of a shard's record; 2 carries the sweep group (a record of format 1 is unreadable)."""
VERDICT_FORMAT = 1


class Decision(enum.StrEnum):
    """What every shard of the group does."""

    ACT = "act"
    STOP = "stop"


class VerdictReason(enum.StrEnum):
    """Why the shard that decided decided when it did."""

    ALL_PUBLISHED = "all-published"
    """It read every shard's record."""
    TIMED_OUT = "timed-out"
    """Its wait ended before every shard's record was there."""
    STORE_FAILED = "store-failed"
    """It could not publish its record or read the store."""


@dataclass(frozen=True)
class ShardCounts:
    """What one shard planned: the record it publishes."""

    shard: int
    count: int
    """How many shards the sweep has: every record of a group must agree."""
    actions: Mapping[str, int] = field(default_factory=dict)
    """Destructive actions (delete, quarantine) planned, per provider:kind."""
    population: Mapping[str, int] = field(default_factory=dict)
    """Pipeline-tagged resources seen, per provider:kind."""
    tripped: tuple[str, ...] = ()
    """The reasons its own brake gave, if it tripped."""
    group: str = field(kw_only=True)
    """The sweep group it was published for: every record of a group must name it."""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "group": self.group,
                "shard": self.shard,
                "count": self.count,
                "actions": dict(sorted(self.actions.items())),
                "population": dict(sorted(self.population.items())),
                "tripped": list(self.tripped),
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ShardCounts:
        """Raises ValueError for anything but a record :meth:`to_json` wrote."""
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise ValueError(f"not a shard's brake record: format {raw.get('format')!r}")
            return cls(
                group=str(raw["group"]),
                shard=int(raw["shard"]),
                count=int(raw["count"]),
                actions=_counts(raw["actions"]),
                population=_counts(raw["population"]),
                tripped=tuple(str(r) for r in raw["tripped"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
            raise ValueError(f"not a shard's brake record: {err!r}") from None


@dataclass(frozen=True)
class Verdict:
    """The one decision of a sweep group, stored create-only next to its records."""

    group: str
    """The sweep group it is the verdict of."""
    shards: int
    """How many shards the sweep has."""
    decided_by: int
    """The index of the shard that decided it (and stored it)."""
    reason: VerdictReason
    """Why that shard decided when it did."""
    decision: Decision
    """ACT or STOP, for every shard."""
    published: tuple[int, ...]
    """The shards whose records it was decided on."""
    actions: Mapping[str, int] = field(default_factory=dict)
    """Destructive actions planned, per provider:kind, summed over ``published``."""
    population: Mapping[str, int] = field(default_factory=dict)
    """Pipeline-tagged resources seen, per provider:kind, summed over ``published``."""
    brake: tuple[str, ...] = ()
    """Why no shard acts; empty for ACT."""
    exceeded: tuple[BrakeCount, ...] = ()
    """The summed counts over the limits, as the brake reports them."""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": VERDICT_FORMAT,
                "group": self.group,
                "shards": self.shards,
                "decided_by": self.decided_by,
                "reason": self.reason.value,
                "decision": self.decision.value,
                "published": list(self.published),
                "actions": dict(sorted(self.actions.items())),
                "population": dict(sorted(self.population.items())),
                "brake": list(self.brake),
                "exceeded": [
                    {"group": c.group, "actions": c.actions, "population": c.population}
                    for c in self.exceeded
                ],
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Verdict:
        """Raises ValueError for anything but a verdict :meth:`to_json` wrote."""
        try:
            raw = json.loads(data)
            if raw.get("format") != VERDICT_FORMAT:
                raise ValueError(f"not a brake verdict: format {raw.get('format')!r}")
            return cls(
                group=str(raw["group"]),
                shards=int(raw["shards"]),
                decided_by=int(raw["decided_by"]),
                reason=VerdictReason(raw["reason"]),
                decision=Decision(raw["decision"]),
                published=tuple(int(i) for i in raw["published"]),
                actions=_counts(raw["actions"]),
                population=_counts(raw["population"]),
                brake=tuple(str(r) for r in raw["brake"]),
                exceeded=tuple(
                    BrakeCount(str(c["group"]), int(c["actions"]), int(c["population"]))
                    for c in raw["exceeded"]
                ),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
            raise ValueError(f"not a brake verdict: {err!r}") from None

    def describe(self) -> str:
        """``stop (timed-out; decided by shard 0/2 on 1 of 2 records)``."""
        return (
            f"{self.decision} ({self.reason}; decided by shard {self.decided_by}/{self.shards} "
            f"on {len(self.published)} of {self.shards} records)"
        )

    def as_brake(self) -> SafetyLimitExceeded | None:
        """The brake every shard reports for this verdict: None for ACT. Pure."""
        if self.decision is Decision.ACT:
            return None
        footer = f"global brake: the verdict of sweep group {self.group} is {self.describe()}"
        return SafetyLimitExceeded([*self.brake, footer], self.exceeded)


def _counts(raw: Mapping[str, Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in raw.items()}


def shard_counts(
    plan: Plan, group: str, shard: int, count: int, brake: SafetyLimitExceeded | None
) -> ShardCounts:
    """The record one shard publishes for its plan. Pure."""
    acting = Counter(d.ref.kind_key for d in plan.decisions if d.action.destructive)
    return ShardCounts(
        group=group,
        shard=shard,
        count=count,
        actions=dict(acting),
        population=dict(plan.population),
        tripped=brake.reasons if brake is not None else (),
    )


def verdict(
    records: Mapping[int, ShardCounts],
    count: int,
    safety: SafetySettings,
    *,
    group: str | None = None,
    unreadable: Mapping[int, str] | None = None,
) -> SafetyLimitExceeded | None:
    """The brake for the whole sweep from every shard's record, or None to act. Pure.

    ``records`` maps a shard index to its record, as read from the store (missing shards
    absent); ``unreadable``, a shard index to why its record could not be read. Trips
    when a shard is missing or unreadable, disagrees on the group (when ``group`` is
    given) or the shard count, tripped its own brake, or when the summed counts exceed
    the limits. Consumed by :func:`decide`.
    """
    unreadable = unreadable or {}
    reasons: list[str] = []
    missing = [i for i in range(count) if i not in records and i not in unreadable]
    if missing:
        reasons.append(
            f"global brake: shard(s) {', '.join(map(str, missing))} of {count} did not "
            "publish their plan in time; no shard acts"
        )
    for index, why in sorted(unreadable.items()):
        reasons.append(f"global brake: shard {index}'s record is unreadable: {why}")
    for index, record in sorted(records.items()):
        if group is not None and record.group != group:
            reasons.append(
                f"global brake: shard {index}'s record is of sweep group {record.group!r}, "
                f"not {group!r}"
            )
        if record.count != count or record.shard != index:
            reasons.append(
                f"global brake: shard {index}'s record says shard {record.shard} of "
                f"{record.count}, not of {count}"
            )
        if record.tripped:
            reasons.append(f"global brake: shard {index} tripped: {'; '.join(record.tripped)}")
    acting, population = totals(records)
    counts: tuple[BrakeCount, ...] = ()
    try:
        check_counts(acting, population, safety)
    except SafetyLimitExceeded as summed:
        reasons += [f"global brake, all {count} shards: {r}" for r in summed.reasons]
        counts = summed.counts
    if reasons:
        return SafetyLimitExceeded(reasons, counts)
    return None


def totals(records: Mapping[int, ShardCounts]) -> tuple[Counter[str], Counter[str]]:
    """Destructive actions and population per provider:kind, summed over ``records``.
    Pure."""
    acting: Counter[str] = Counter()
    population: Counter[str] = Counter()
    for record in records.values():
        acting.update(record.actions)
        population.update(record.population)
    return acting, population


def decide(
    group: str,
    records: Mapping[int, ShardCounts],
    count: int,
    safety: SafetySettings,
    *,
    decided_by: int,
    reason: VerdictReason,
    unreadable: Mapping[int, str] | None = None,
    problems: Sequence[str] = (),
) -> Verdict:
    """The verdict shard ``decided_by`` stores for its group, from the records it read.
    Pure.

    ACT only when :func:`verdict` finds nothing to stop for, with every record read
    (``reason`` ALL_PUBLISHED) and no ``problems`` (what went wrong for this shard, e.g.
    a store it could not read). Consumed by :class:`reaper.brake_sync.BrakeSync`, which
    stores it create-only; the verdict that stands is the first one stored.
    """
    brake = None
    if reason is not VerdictReason.STORE_FAILED:  # nothing was read: the problem says why
        brake = verdict(records, count, safety, group=group, unreadable=unreadable)
    reasons = [*problems, *(brake.reasons if brake is not None else ())]
    if reason is not VerdictReason.ALL_PUBLISHED and not reasons:
        reasons.append(f"global brake: decided without every shard's record ({reason})")
    acting, population = totals(records)
    return Verdict(
        group=group,
        shards=count,
        decided_by=decided_by,
        reason=reason,
        decision=Decision.STOP if reasons else Decision.ACT,
        published=tuple(sorted(records)),
        actions=dict(sorted(acting.items())),
        population=dict(sorted(population.items())),
        brake=tuple(reasons),
        exceeded=brake.counts if brake is not None else (),
    )


__all__ = [
    "Decision",
    "ShardCounts",
    "Verdict",
    "VerdictReason",
    "decide",
    "shard_counts",
    "totals",
    "verdict",
]
