"""Pure: one safety brake for all the shards of a sweep, agreed without a coordinator.

Each shard of a sweep (the pods of one Indexed Job) publishes a :class:`ShardCounts`
record of its plan to a shared store under the sweep's group (the Job's name), then reads
until it has all N records. :func:`verdict` adds them up and checks the sum against the
``safety`` limits, exactly as the per-shard brake checks one plan: every shard reads the
same N records and so reaches the same verdict, and either all act or none does. A shard
whose own brake tripped trips it for everyone; a shard that never publishes (it crashed,
it could not reach the store) trips it too, once the wait is over: fail closed.

Consumed by :class:`reaper.brake_sync.BrakeSync`, which does the publishing and waiting.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from reaper.config import SafetySettings
from reaper.errors import BrakeCount, SafetyLimitExceeded
from reaper.model import Plan
from reaper.policy import check_counts

FORMAT = 1


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

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
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
                raise ValueError(f"unknown format {raw.get('format')!r}")
            return cls(
                shard=int(raw["shard"]),
                count=int(raw["count"]),
                actions={str(k): int(v) for k, v in raw["actions"].items()},
                population={str(k): int(v) for k, v in raw["population"].items()},
                tripped=tuple(str(r) for r in raw["tripped"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as err:
            raise ValueError(f"not a shard's brake record: {err!r}") from None


def shard_counts(
    plan: Plan, shard: int, count: int, brake: SafetyLimitExceeded | None
) -> ShardCounts:
    """The record one shard publishes for its plan. Pure."""
    acting = Counter(d.ref.kind_key for d in plan.decisions if d.action.destructive)
    return ShardCounts(
        shard=shard,
        count=count,
        actions=dict(acting),
        population=dict(plan.population),
        tripped=brake.reasons if brake is not None else (),
    )


def verdict(
    records: Mapping[int, ShardCounts], count: int, safety: SafetySettings
) -> SafetyLimitExceeded | None:
    """The brake for the whole sweep from every shard's record, or None to act. Pure.

    ``records`` maps a shard index to its record, as read from the store (missing shards
    absent). Trips when a shard is missing, disagrees on the shard count, tripped its own
    brake, or when the summed counts exceed the limits.
    """
    reasons: list[str] = []
    missing = [i for i in range(count) if i not in records]
    if missing:
        reasons.append(
            f"global brake: shard(s) {', '.join(map(str, missing))} of {count} did not "
            "publish their plan in time; no shard acts"
        )
    for index, record in sorted(records.items()):
        if record.count != count or record.shard != index:
            reasons.append(
                f"global brake: shard {index}'s record says shard {record.shard} of "
                f"{record.count}, not of {count}"
            )
        if record.tripped:
            reasons.append(f"global brake: shard {index} tripped: {'; '.join(record.tripped)}")
    acting: Counter[str] = Counter()
    population: Counter[str] = Counter()
    for record in records.values():
        acting.update(record.actions)
        population.update(record.population)
    counts: tuple[BrakeCount, ...] = ()
    try:
        check_counts(acting, population, safety)
    except SafetyLimitExceeded as summed:
        reasons += [f"global brake, all {count} shards: {r}" for r in summed.reasons]
        counts = summed.counts
    if reasons:
        return SafetyLimitExceeded(reasons, counts)
    return None


__all__ = ["ShardCounts", "shard_counts", "verdict"]
