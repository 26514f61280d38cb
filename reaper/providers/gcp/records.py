"""Pure: what GCP quarantine records on a resource, as labels, and how it reads it back.

Labels are all GCP resources offer on both kinds (GKE clusters have no metadata), and the
labels whose keys start with ``reaper-`` are covered by reaper's state signature, so the
originals a release restores cannot be forged. A label value holds at most 63 characters
of ``[a-z0-9_-]``, so a record longer than that is split over numbered labels
(``reaper-original-tags``, ``reaper-original-tags-1``, …): a fixed set per record, each
declared in its kind's ``state_tags``. A record that does not fit them all makes the
quarantine fail rather than lose what it would have to restore.

Encodings (``_`` never occurs in what they hold, ``-`` does):

- network tags: ``http-server_ssh`` (tags joined by ``_``; empty for none);
- instance state: its status, lowercased (``running``, ``terminated``);
- node pools: ``default-pool_3__spot_1_0_5_b`` (``name_nodes`` or, with autoscaling,
  ``name_nodes_min_max[_policy]``, joined by ``__``), nodes per zone; the bounds per zone,
  or over the whole pool with ``t`` before the minimum (``spot_1_t0_9``); the autoscaler's
  location policy ``b`` (BALANCED) or ``a`` (ANY), absent when unspecified;
- master authorized networks: ``off`` when quarantine turned them on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reaper.errors import ProviderError

LABEL_VALUE_LIMIT = 63
_LABEL_CHARACTERS = re.compile(r"[a-z0-9_-]*")
_NETWORK_TAG = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")

QUARANTINE_TAG = "reaper-quarantine"
"""The network tag of a quarantined instance, and the target of the deny-all rules."""

ORIGINAL_STATE = "reaper-original-state"
ORIGINAL_TAGS = (
    "reaper-original-tags",
    "reaper-original-tags-1",
    "reaper-original-tags-2",
    "reaper-original-tags-3",
)
"""Up to 252 characters of network tags: some twenty tags of usual length."""
ORIGINAL_POOLS = (
    "reaper-original-pools",
    "reaper-original-pools-1",
    "reaper-original-pools-2",
    "reaper-original-pools-3",
    "reaper-original-pools-4",
    "reaper-original-pools-5",
)
"""Up to 378 characters of node pools: six pools with the longest names GKE allows."""
ORIGINAL_ENDPOINT = "reaper-original-endpoint"
ENDPOINT_OPEN = "off"
"""``ORIGINAL_ENDPOINT``'s value: master authorized networks were off before quarantine."""
UNKNOWN_STATE = "unknown"
"""Recorded when an instance already carries the quarantine tag but no trusted original:
release then restores the tags it can and does not start the instance."""

INSTANCE_KEYS = (ORIGINAL_STATE, *ORIGINAL_TAGS)
CLUSTER_KEYS = (*ORIGINAL_POOLS, ORIGINAL_ENDPOINT)


class RecordTooLong(ValueError):
    """A record does not fit in its labels."""


def split_record(keys: Sequence[str], value: str) -> dict[str, str | None]:
    """``value`` over ``keys``: the first always set, the unused ones None (remove). Pure.

    Raises RecordTooLong when it needs more than ``len(keys)`` labels.
    """
    if not _LABEL_CHARACTERS.fullmatch(value):
        raise ValueError(f"{value!r} holds characters a label value cannot")
    chunks = [value[i : i + LABEL_VALUE_LIMIT] for i in range(0, len(value), LABEL_VALUE_LIMIT)]
    if len(chunks) > len(keys):
        raise RecordTooLong(
            f"{len(value)} characters do not fit in {len(keys)} labels of {LABEL_VALUE_LIMIT}"
        )
    chunks = chunks or [""]
    return {key: chunks[i] if i < len(chunks) else None for i, key in enumerate(keys)}


def joined_record(labels: Mapping[str, str], keys: Sequence[str]) -> str | None:
    """The value ``split_record`` spread over ``keys``, or None if it was never recorded."""
    if keys[0] not in labels:
        return None
    return "".join(labels.get(key, "") for key in keys)


# -- instances -----------------------------------------------------------------------------


def encode_tags(tags: Sequence[str]) -> str:
    """Network tags as one label-safe value (the quarantine tag never among them). Pure."""
    return "_".join(t for t in tags if t != QUARANTINE_TAG)


def decode_tags(value: str) -> list[str]:
    """The inverse of ``encode_tags``. Pure. Raises ProviderError for a malformed value."""
    tags = [t for t in value.split("_") if t]
    bad = [t for t in tags if not _NETWORK_TAG.fullmatch(t)]
    if bad:
        raise ProviderError(f"label {ORIGINAL_TAGS[0]} is malformed: {value!r}")
    return tags


@dataclass(frozen=True)
class InstanceOriginals:
    """What an instance looked like before quarantine."""

    tags: tuple[str, ...]
    state: str
    """Its status, lowercased; ``running`` is started again on release."""

    def labels(self) -> dict[str, str | None]:
        """The label updates that record these. Raises RecordTooLong."""
        return {ORIGINAL_STATE: self.state, **split_record(ORIGINAL_TAGS, encode_tags(self.tags))}

    @classmethod
    def read(cls, labels: Mapping[str, str]) -> InstanceOriginals | None:
        """The originals recorded in ``labels``, or None. Raises ProviderError if odd."""
        tags = joined_record(labels, ORIGINAL_TAGS)
        if tags is None:
            return None
        state = labels.get(ORIGINAL_STATE, UNKNOWN_STATE)
        return cls(tuple(decode_tags(tags)), state)


# -- clusters ------------------------------------------------------------------------------


_POLICIES = {"b": "BALANCED", "a": "ANY"}
_POOL_RECORD = re.compile(
    r"([a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)_(\d+)(?:_(t?)(\d+)_(\d+)(?:_([ab]))?)?"
)


@dataclass(frozen=True, order=True)
class PoolScaling:
    """A node pool's autoscaling, when it was on."""

    low: int
    high: int
    total: bool = False
    """The limits are over the whole pool (``totalMinNodeCount``, ``totalMaxNodeCount``),
    not per zone (``minNodeCount``, ``maxNodeCount``); GKE takes one kind or the other."""
    policy: str = ""
    """The autoscaler's location policy, ``BALANCED`` or ``ANY``; "" when unspecified."""


@dataclass(frozen=True, order=True)
class PoolOriginal:
    """A node pool's size (per zone) and autoscaling before quarantine."""

    name: str
    nodes: int
    autoscaling: PoolScaling | None = None
    """How it autoscaled, when it did."""

    def encode(self) -> str:
        parts = [self.name, str(self.nodes)]
        scaling = self.autoscaling
        if scaling is not None:
            parts += [f"{'t' if scaling.total else ''}{scaling.low}", str(scaling.high)]
            codes = {name: code for code, name in _POLICIES.items()}
            if scaling.policy:
                parts.append(codes[scaling.policy])
        return "_".join(parts)

    @classmethod
    def decode(cls, value: str) -> PoolOriginal:
        match = _POOL_RECORD.fullmatch(value) if value.isascii() else None
        if match is None:
            raise ValueError(f"{value!r} is not name_nodes[_[t]min_max[_policy]]")
        name, nodes, total, low, high, policy = match.groups()
        scaling = (
            None
            if low is None
            else PoolScaling(int(low), int(high), total == "t", _POLICIES.get(policy or "", ""))
        )
        return cls(name, int(nodes), scaling)


def encode_pools(pools: Sequence[PoolOriginal]) -> str:
    """``default-pool_3__spot_1_0_5``. Pure."""
    return "__".join(p.encode() for p in sorted(pools))


def decode_pools(value: str) -> list[PoolOriginal]:
    """The inverse of ``encode_pools``. Pure. Raises ProviderError for a malformed value."""
    try:
        return [PoolOriginal.decode(part) for part in value.split("__") if part]
    except ValueError:
        raise ProviderError(f"label {ORIGINAL_POOLS[0]} is malformed: {value!r}") from None


def pool_labels(pools: Sequence[PoolOriginal]) -> dict[str, str | None]:
    """The label updates that record ``pools``. Pure. Raises RecordTooLong."""
    return split_record(ORIGINAL_POOLS, encode_pools(pools))


def read_pools(labels: Mapping[str, str]) -> list[PoolOriginal] | None:
    """The pools recorded in ``labels``, or None. Raises ProviderError if odd."""
    value = joined_record(labels, ORIGINAL_POOLS)
    return None if value is None else decode_pools(value)
