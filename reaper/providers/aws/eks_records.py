"""Pure: what EKS quarantine records on a cluster, and what reaper reads off a cluster.

The original sizes and endpoint access are recorded as tags before anything changes, so
``release`` can restore them and a retry never records the quarantined sizes as originals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reaper.errors import ProviderError

ORIGINAL_SCALING = "reaper-original-scaling"
"""On the cluster: ``ng-a=1:2:3 ng-b=0:1:2`` (name=min:desired:max of each node group).
When that does not fit in one tag value, node groups that are not in it carry their own
``reaper-original-scaling=1:2:3``; release reads both."""
ORIGINAL_ENDPOINT = "reaper-original-endpoint"
"""On the cluster, when quarantine closed its public endpoint: ``public`` or
``public+private``, the endpoint access release puts back."""
ORIGINAL_KEYS = (ORIGINAL_SCALING, ORIGINAL_ENDPOINT)
TAG_VALUE_LIMIT = 256
"""The longest tag value EKS accepts."""


@dataclass(frozen=True)
class Scaling:
    """The scaling config of a managed node group."""

    min_size: int
    desired_size: int
    max_size: int
    """EKS requires at least 1, so a node group scaled to zero keeps its maximum."""

    def encode(self) -> str:
        return f"{self.min_size}:{self.desired_size}:{self.max_size}"

    @classmethod
    def decode(cls, value: str) -> Scaling:
        parts = value.split(":")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(f"{value!r} is not min:desired:max")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    @property
    def zeroed(self) -> bool:
        return self.min_size == 0 and self.desired_size == 0

    def zero(self) -> Scaling:
        return Scaling(0, 0, self.max_size)

    def config(self) -> dict[str, int]:
        """The ``scalingConfig`` of UpdateNodegroupConfig."""
        return {
            "minSize": self.min_size,
            "desiredSize": self.desired_size,
            "maxSize": self.max_size,
        }


def encode_scaling(sizes: Mapping[str, Scaling]) -> str:
    """``{ng-a: Scaling(1, 2, 3)}`` -> ``ng-a=1:2:3`` (valid AWS tag characters). Pure."""
    return " ".join(f"{name}={scaling.encode()}" for name, scaling in sorted(sizes.items()))


def decode_scaling(value: str) -> dict[str, Scaling]:
    """The inverse of ``encode_scaling``. Pure. Raises ProviderError for a malformed value."""
    sizes: dict[str, Scaling] = {}
    for part in value.split():
        name, _, encoded = part.partition("=")
        try:
            if not name:
                raise ValueError("no node group name")
            sizes[name] = Scaling.decode(encoded)
        except ValueError:
            raise ProviderError(f"tag {ORIGINAL_SCALING} is malformed: {value!r}") from None
    return sizes


def decode_endpoint(value: str) -> bool:
    """Whether the recorded endpoint access included private access."""
    if value not in ("public", "public+private"):
        raise ProviderError(f"tag {ORIGINAL_ENDPOINT} is malformed: {value!r}")
    return value == "public+private"


@dataclass(frozen=True)
class ClusterFacts:
    """What the policy will need to know about a cluster besides its tags and age."""

    version: str
    """The Kubernetes ``major.minor`` version of the control plane."""
    endpoint_public: bool | None
    """Whether the API server endpoint is reachable from the internet; None if not reported."""
    endpoint_private: bool | None
    """Whether the endpoint is reachable from inside the VPC; None if not reported."""
    public_access_cidrs: tuple[str, ...] = ()
    """Where the public endpoint accepts connections from (AWS's default: 0.0.0.0/0)."""

    @property
    def open_to_internet(self) -> bool:
        """A public endpoint that accepts any address (no CIDRs reported means the default)."""
        if not self.endpoint_public:
            return False
        return not self.public_access_cidrs or bool(
            {"0.0.0.0/0", "::/0"} & set(self.public_access_cidrs)
        )


@dataclass(frozen=True)
class Nodegroup:
    name: str
    arn: str
    status: str
    scaling: Scaling | None
    tags: Mapping[str, str]


def facts_of(raw: Mapping[str, Any]) -> ClusterFacts:
    vpc = raw.get("resourcesVpcConfig") or {}

    def flag(key: str) -> bool | None:
        value = vpc.get(key)
        return value if isinstance(value, bool) else None

    return ClusterFacts(
        version=str(raw.get("version", "")),
        endpoint_public=flag("endpointPublicAccess"),
        endpoint_private=flag("endpointPrivateAccess"),
        public_access_cidrs=tuple(str(c) for c in vpc.get("publicAccessCidrs") or ()),
    )


def nodegroup_of(raw: Mapping[str, Any]) -> Nodegroup:
    config = raw.get("scalingConfig") or {}
    low, desired, high = (config.get(k) for k in ("minSize", "desiredSize", "maxSize"))
    scaling = None
    if isinstance(low, int) and isinstance(desired, int) and isinstance(high, int):
        scaling = Scaling(low, desired, high)
    return Nodegroup(
        name=str(raw["nodegroupName"]),
        arn=str(raw["nodegroupArn"]),
        status=str(raw.get("status", "")),
        scaling=scaling,
        tags=dict(raw.get("tags") or {}),
    )
