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
- master authorized networks, when quarantine closed them: ``off`` when they were off
  (and Google Cloud's public addresses not set), else ``j`` and the base32 (lowercase, no
  padding) of the JSON ``[enabled, gcpPublicCidrsAccessEnabled, [[cidr, displayName], …]]``
  (``gcpPublicCidrsAccessEnabled`` null when unset): every CIDR block and its name is
  restored exactly. A list too long for its labels refuses the quarantine.
"""

from __future__ import annotations

import base64
import binascii
import json
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
ORIGINAL_ENDPOINTS = (
    ORIGINAL_ENDPOINT,
    "reaper-original-endpoint-1",
    "reaper-original-endpoint-2",
    "reaper-original-endpoint-3",
    "reaper-original-endpoint-4",
    "reaper-original-endpoint-5",
)
"""Up to 378 characters of master authorized networks: some ten CIDR blocks with names."""
ENDPOINT_OPEN = "off"
"""``ORIGINAL_ENDPOINT``'s value: master authorized networks were off before quarantine."""
UNKNOWN_STATE = "unknown"
"""Recorded when an instance already carries the quarantine tag but no trusted original:
release then restores the tags it can and does not start the instance."""

INSTANCE_KEYS = (ORIGINAL_STATE, *ORIGINAL_TAGS)
CLUSTER_KEYS = (*ORIGINAL_POOLS, *ORIGINAL_ENDPOINTS)


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


@dataclass(frozen=True)
class AuthorizedNetworks:
    """A cluster's master authorized networks: who may reach its public endpoint."""

    enabled: bool
    blocks: tuple[tuple[str, str], ...] = ()
    """(CIDR block, display name) each, in the API's order; none while not ``enabled``."""
    gcp_public_cidrs: bool | None = None
    """``gcpPublicCidrsAccessEnabled``: Google Cloud's public addresses let in; None when
    unset (and then not sent on restore)."""

    def encode(self) -> str:
        """A label-safe value (see the module doc). Pure."""
        if self == OFF:
            return ENDPOINT_OPEN
        data = [self.enabled, self.gcp_public_cidrs, [list(b) for b in self.blocks]]
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return "j" + base64.b32encode(payload).decode().rstrip("=").lower()

    @classmethod
    def decode(cls, value: str) -> AuthorizedNetworks:
        """The inverse of ``encode``. Pure. Raises ProviderError for a malformed value."""
        if value == ENDPOINT_OPEN:
            return OFF
        bad = ProviderError(f"label {ORIGINAL_ENDPOINT} is malformed: {value[:80]!r}")
        if not value.startswith("j"):
            raise bad
        body = value[1:].upper()
        try:
            data = json.loads(base64.b32decode(body + "=" * (-len(body) % 8)))
        except (binascii.Error, ValueError):
            raise bad from None
        if (
            not isinstance(data, list)
            or len(data) != 3
            or not isinstance(data[0], bool)
            or not (data[1] is None or isinstance(data[1], bool))
            or not isinstance(data[2], list)
            or not all(
                isinstance(b, list) and len(b) == 2 and all(isinstance(x, str) for x in b)
                for b in data[2]
            )
        ):
            raise bad
        return cls(data[0], tuple((b[0], b[1]) for b in data[2]), data[1])

    def labels(self) -> dict[str, str | None]:
        """The label updates that record these. Raises RecordTooLong."""
        return split_record(ORIGINAL_ENDPOINTS, self.encode())

    @classmethod
    def read(cls, labels: Mapping[str, str]) -> AuthorizedNetworks | None:
        """The original recorded in ``labels``, or None. Raises ProviderError if odd."""
        value = joined_record(labels, ORIGINAL_ENDPOINTS)
        return None if value is None else cls.decode(value)


OFF = AuthorizedNetworks(False)
"""Master authorized networks off: the public endpoint open to any address."""
CLOSED = AuthorizedNetworks(True, (), False)
"""What quarantine sets: on, with no network in them and no Google Cloud address."""
