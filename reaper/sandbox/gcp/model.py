"""The fake's state: one mutable record per resource, owned by the World under its lock.

These are internal; callers seed with the ``FakeGcp.add_*`` methods and read back the
API's own JSON, so nothing outside the package depends on these shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reaper.sandbox.gcp.faults import OperationFailure


@dataclass
class Project:
    project_id: str
    number: int
    zones: list[str]
    """The zones aggregatedList reports, each with results or NO_RESULTS_ON_PAGE."""
    parent: str | None = None
    """``organizations/N`` or ``folders/N`` in Resource Manager; None: in no organization."""
    state: str = "ACTIVE"
    """ACTIVE or DELETE_REQUESTED (Resource Manager's lifecycle state)."""
    display_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None
    deleted: datetime | None = None


@dataclass
class Folder:
    """A Resource Manager folder: ``folders/N`` under an organization or a folder."""

    name: str
    parent: str
    display_name: str
    created: datetime
    state: str = "ACTIVE"
    deleted: datetime | None = None


@dataclass
class NetworkInterface:
    name: str
    network: str
    """The network's name in the instance's project."""
    network_ip: str
    nat_ip: str | None
    """The external address of its ONE_TO_ONE_NAT access config, if it has one."""
    external_ipv6: str | None = None
    """The external IPv6 address of its DIRECT_IPV6 access config (a dual-stack
    interface), if it has one."""


@dataclass
class AttachedDisk:
    disk: str
    """The disk's name in the instance's zone."""
    boot: bool
    auto_delete: bool
    index: int


@dataclass
class ServiceAccount:
    email: str
    scopes: list[str]


@dataclass
class Instance:
    project: str
    zone: str
    name: str
    id: int
    created: datetime
    status: str
    machine_type: str
    labels: dict[str, str]
    label_fingerprint: str
    tags: list[str]
    tags_fingerprint: str
    metadata: list[tuple[str, str]]
    metadata_fingerprint: str
    network_interfaces: list[NetworkInterface]
    disks: list[AttachedDisk]
    service_accounts: list[ServiceAccount]
    deletion_protection: bool
    description: str
    last_start: datetime | None
    last_stop: datetime | None
    busy_with: str | None = None
    """The name of the lifecycle operation (delete/stop/start) still running on it."""


@dataclass
class Disk:
    project: str
    zone: str
    name: str
    id: int
    created: datetime
    size_gb: int
    disk_type: str
    source_image: str | None
    """Full image URL, or None for a blank disk."""
    labels: dict[str, str]
    label_fingerprint: str
    users: list[str] = field(default_factory=list)


@dataclass
class Image:
    project: str
    name: str
    id: int
    created: datetime
    family: str | None
    deprecation_state: str | None
    """DEPRECATED, OBSOLETE or DELETED; None when the image is current."""
    replacement: str | None
    """Full URL of the suggested replacement image."""
    disk_size_gb: int
    labels: dict[str, str]
    label_fingerprint: str


@dataclass
class Network:
    project: str
    name: str
    id: int
    created: datetime
    auto_create_subnetworks: bool


@dataclass
class Firewall:
    project: str
    name: str
    id: int
    created: datetime
    network: str
    """The network's name."""
    priority: int
    direction: str
    source_ranges: list[str]
    destination_ranges: list[str]
    source_tags: list[str]
    allowed: list[dict[str, object]]
    denied: list[dict[str, object]]
    target_tags: list[str]
    target_service_accounts: list[str]
    disabled: bool
    description: str


@dataclass
class Autoscaling:
    enabled: bool
    min_node_count: int
    max_node_count: int
    total: bool = False
    """The limits are over the whole pool (``totalMinNodeCount``, ``totalMaxNodeCount``),
    not per zone; the API takes one kind or the other."""
    location_policy: str = "BALANCED"
    """``BALANCED`` or ``ANY``."""


@dataclass
class NodePool:
    name: str
    initial_node_count: int
    """What the pool was created with; GKE never changes it afterwards."""
    node_count: int
    """Current nodes per zone: the target size of each of the pool's instance groups."""
    locations: list[str]
    autoscaling: Autoscaling
    status: str
    version: str
    machine_type: str
    group_suffix: str
    """The hash in ``gke-<cluster>-<pool>-<suffix>-grp``, the pool's instance groups."""


@dataclass
class Cluster:
    project: str
    location: str
    name: str
    id: str
    created: datetime
    status: str
    labels: dict[str, str]
    label_fingerprint: str
    master_version: str
    initial_version: str
    endpoint: str
    network: str
    subnetwork: str
    locations: list[str]
    private_cluster_config: dict[str, object] | None
    authorized_networks_enabled: bool
    authorized_cidr_blocks: list[dict[str, str]]
    """``{cidrBlock, displayName}`` each (no ``displayName`` when it has none)."""
    gcp_public_cidrs_access_enabled: bool | None
    """``masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled``; None when unset."""
    node_pools: list[NodePool]
    description: str


Effect = Callable[[], None]


@dataclass
class ComputeOperation:
    project: str
    zone: str | None
    """None for a global operation."""
    name: str
    id: int
    operation_type: str
    target_link: str
    target_id: int
    status: str
    progress: int
    inserted: datetime
    started: datetime | None
    ended: datetime | None
    polls_needed: int
    polls_done: int = 0
    on_done: Effect | None = None
    on_error: Effect | None = None
    failure: OperationFailure | None = None
    """How it will end instead of applying its effect (an injected failure)."""
    error: OperationFailure | None = None


@dataclass
class GkeOperation:
    project: str
    location: str
    name: str
    operation_type: str
    cluster: str
    node_pool: str | None
    status: str
    started: datetime
    ended: datetime | None
    polls_needed: int | None
    """None for an operation held RUNNING until the test finishes it."""
    detail: str = ""
    polls_done: int = 0
    on_done: Effect | None = None
    on_error: Effect | None = None
    failure: OperationFailure | None = None
    """How it will end instead of applying its effect (an injected failure)."""
    error: OperationFailure | None = None
