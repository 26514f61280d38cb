"""Turning a test's or the demo's description of an estate into the fake's records.

Kept apart from the facade so each seeding rule (default addresses, boot disks, node
locations, GKE defaults) is written once, next to the checks that reject bad input.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reaper.sandbox.gcp.compute_json import image_url, instance_url
from reaper.sandbox.gcp.fingerprints import (
    EMPTY_COMPUTE_FINGERPRINT,
    EMPTY_GKE_FINGERPRINT,
    compute_fingerprint,
    gke_fingerprint,
)
from reaper.sandbox.gcp.labels import label_problem
from reaper.sandbox.gcp.model import (
    AttachedDisk,
    Autoscaling,
    Cluster,
    Disk,
    Instance,
    NetworkInterface,
    NodePool,
    ServiceAccount,
)
from reaper.sandbox.gcp.timefmt import aware
from reaper.sandbox.gcp.world import World

INSTANCE_STATUSES = (
    "PROVISIONING",
    "STAGING",
    "RUNNING",
    "STOPPING",
    "SUSPENDING",
    "SUSPENDED",
    "REPAIRING",
    "TERMINATED",
)
CLUSTER_STATUSES = ("PROVISIONING", "RUNNING", "RECONCILING", "STOPPING", "ERROR", "DEGRADED")
NODE_POOL_STATUSES = (
    "PROVISIONING",
    "RUNNING",
    "RUNNING_WITH_ERROR",
    "RECONCILING",
    "STOPPING",
    "ERROR",
)
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


@dataclass(frozen=True)
class NodePoolSpec:
    """A GKE node pool to seed."""

    name: str = "default-pool"
    node_count: int = 3
    """Nodes per zone now (the instance groups' target size)."""
    initial_node_count: int | None = None
    """What the pool was created with; defaults to ``node_count``."""
    autoscaling: tuple[int, int] | None = None
    """(min, max) nodes per zone when autoscaling is on; None when it is off."""
    total_autoscaling: tuple[int, int] | None = None
    """(min, max) nodes over the whole pool instead (``totalMinNodeCount`` …)."""
    location_policy: str = "BALANCED"
    """Of the autoscaler: ``BALANCED`` or ``ANY``."""
    version: str | None = None
    """Node version; defaults to the cluster's master version."""
    machine_type: str = "e2-medium"
    status: str = "RUNNING"
    locations: tuple[str, ...] | None = None
    """Zones of the pool; defaults to the cluster's node locations."""


def check_choice(kind: str, value: str, valid: Sequence[str]) -> None:
    """ValueError naming the valid choices when ``value`` is not one of them."""
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r} (valid: {', '.join(valid)})")


def mixed_families(ranges: Mapping[str, Sequence[str]]) -> tuple[str, int, str] | None:
    """The first range of a firewall rule whose IP family differs from the rule's first
    range, as ``(field, index, range)``; None when all are of one family. Pure.

    A VPC firewall rule holds IPv4 or IPv6 ranges, never both ("A firewall rule can
    contain either IPv4 or IPv6 ranges, but not both": the VPC firewall rules guide), in
    its source and destination ranges together. Unparsable ranges are left to the
    range check."""
    first: int | None = None
    for field, values in ranges.items():
        for index, text in enumerate(values):
            try:
                version = ipaddress.ip_network(text, strict=False).version
            except ValueError:
                continue
            if first is None:
                first = version
            elif version != first:
                return field, index, text
    return None


def check_labels(labels: Mapping[str, str]) -> None:
    problem = label_problem(labels)
    if problem is not None:
        raise ValueError(problem)


def resolve_image(reference: str) -> str:
    """A full image URL from a URL or ``projects/<p>/global/images/<name>``. Pure."""
    if reference.startswith("https://"):
        return reference
    return image_url(reference.split("/")[1], reference.split("/")[-1])


def _address(index: int) -> str:
    return str(ipaddress.ip_address("10.128.0.2") + index)


def build_instance(
    world: World,
    *,
    project: str,
    zone: str,
    name: str,
    created: datetime,
    status: str,
    labels: Mapping[str, str],
    machine_type: str,
    network: str,
    network_ip: str | None,
    external_ip: str | None,
    external_ipv6: str | None,
    tags: Sequence[str],
    metadata: Mapping[str, str],
    service_accounts: Sequence[str | tuple[str, Sequence[str]]],
    boot_image: str | None,
    extra_disks: Sequence[str],
    deletion_protection: bool,
    description: str,
) -> Instance:
    """An instance record plus its boot disk; extra disks must already be seeded."""
    check_choice("instance status", status, INSTANCE_STATUSES)
    check_labels(labels)
    url = instance_url(project, zone, name)
    boot_key = (project, zone, name)
    if boot_key not in world.disks:
        world.disks[boot_key] = Disk(
            project=project,
            zone=zone,
            name=name,
            id=world.new_id(),
            created=created,
            size_gb=10,
            disk_type="pd-balanced",
            source_image=None if boot_image is None else resolve_image(boot_image),
            labels={},
            label_fingerprint=EMPTY_COMPUTE_FINGERPRINT,
        )
    world.disks[boot_key].users.append(url)
    disks = [AttachedDisk(disk=name, boot=True, auto_delete=True, index=0)]
    for index, extra in enumerate(extra_disks, start=1):
        disk = world.disks.get((project, zone, extra))
        if disk is None:
            raise ValueError(f"disk {extra!r} is not seeded in {project}/{zone}; add_disk it first")
        disk.users.append(url)
        disks.append(AttachedDisk(disk=extra, boot=False, auto_delete=False, index=index))
    accounts = [
        ServiceAccount(item, list(DEFAULT_SCOPES))
        if isinstance(item, str)
        else ServiceAccount(item[0], list(item[1]))
        for item in service_accounts
    ]
    pairs = list(metadata.items())
    running = status in ("RUNNING", "STOPPING", "SUSPENDING")
    return Instance(
        project=project,
        zone=zone,
        name=name,
        id=world.new_id(),
        created=created,
        status=status,
        machine_type=machine_type,
        labels=dict(labels),
        label_fingerprint=compute_fingerprint(labels) if labels else EMPTY_COMPUTE_FINGERPRINT,
        tags=list(tags),
        tags_fingerprint=compute_fingerprint(list(tags)) if tags else EMPTY_COMPUTE_FINGERPRINT,
        metadata=pairs,
        metadata_fingerprint=compute_fingerprint(pairs) if pairs else EMPTY_COMPUTE_FINGERPRINT,
        network_interfaces=[
            NetworkInterface(
                name="nic0",
                network=network,
                network_ip=network_ip or _address(len(world.instances)),
                nat_ip=external_ip,
                external_ipv6=external_ipv6,
            )
        ],
        disks=disks,
        service_accounts=accounts,
        deletion_protection=deletion_protection,
        description=description,
        last_start=created if running else None,
        last_stop=None,
    )


def node_locations(location: str) -> list[str]:
    """A zonal cluster's own zone, or three zones of a regional cluster's region. Pure."""
    if location.count("-") >= 2:
        return [location]
    return [f"{location}-{suffix}" for suffix in ("a", "b", "c")]


def build_cluster(
    world: World,
    *,
    project: str,
    location: str,
    name: str,
    created: datetime,
    status: str,
    labels: Mapping[str, str],
    master_version: str,
    endpoint: str | None,
    private_nodes: bool,
    private_endpoint: bool,
    authorized_networks: Sequence[str | tuple[str, str]] | None,
    gcp_public_cidrs: bool | None,
    node_pools: Sequence[NodePoolSpec],
    locations: Sequence[str] | None,
    network: str,
    description: str,
) -> Cluster:
    """A cluster record; its node zones are added to the project so their groups resolve."""
    check_choice("cluster status", status, CLUSTER_STATUSES)
    check_labels(labels)
    zones = list(locations) if locations else node_locations(location)
    for zone in zones:
        world.ensure_zone(project, zone)
    public = (
        endpoint
        or f"34.{world.new_id() % 200 + 20}.{world.new_id() % 250}.{world.new_id() % 250 + 2}"
    )
    private_config: dict[str, object] | None = None
    if private_nodes or private_endpoint:
        private_config = {
            "enablePrivateNodes": True,
            "enablePrivateEndpoint": private_endpoint,
            "masterIpv4CidrBlock": "172.16.0.0/28",
            "privateEndpoint": "172.16.0.2",
            "publicEndpoint": public,
            "peeringName": f"gke-n{world.hex_id(16)}-{world.hex_id(4)}-{world.hex_id(4)}-peer",
        }
    blocks = []
    for entry in authorized_networks or ():
        cidr, display_name = (entry, "") if isinstance(entry, str) else entry
        ipaddress.ip_network(cidr, strict=True)
        blocks.append(
            {"cidrBlock": cidr, **({"displayName": display_name} if display_name else {})}
        )
    pools = []
    for spec in node_pools:
        check_choice("node pool status", spec.status, NODE_POOL_STATUSES)
        autoscaling = Autoscaling(False, 0, 0)
        if spec.autoscaling is not None and spec.total_autoscaling is not None:
            raise ValueError(f"node pool {spec.name!r}: per-zone or total limits, not both")
        check_choice("location policy", spec.location_policy, ("BALANCED", "ANY"))
        limits = spec.autoscaling or spec.total_autoscaling
        if limits is not None:
            low, high = limits
            if high < 1 or low > high:
                raise ValueError(
                    f"node pool {spec.name!r}: autoscaling needs 0 <= min <= max, max >= 1"
                )
            autoscaling = Autoscaling(
                True, low, high, spec.total_autoscaling is not None, spec.location_policy
            )
        pool_zones = list(spec.locations) if spec.locations else zones
        for zone in pool_zones:
            world.ensure_zone(project, zone)
        pools.append(
            NodePool(
                name=spec.name,
                initial_node_count=spec.node_count
                if spec.initial_node_count is None
                else spec.initial_node_count,
                node_count=spec.node_count,
                locations=pool_zones,
                autoscaling=autoscaling,
                status=spec.status,
                version=spec.version or master_version,
                machine_type=spec.machine_type,
                group_suffix=world.hex_id(8),
            )
        )
    return Cluster(
        project=project,
        location=location,
        name=name,
        id=world.hex_id(32),
        created=aware(created),
        status=status,
        labels=dict(labels),
        label_fingerprint=gke_fingerprint(labels) if labels else EMPTY_GKE_FINGERPRINT,
        master_version=master_version,
        initial_version=master_version,
        endpoint="172.16.0.2" if private_endpoint else public,
        network=network,
        subnetwork=network,
        locations=zones,
        private_cluster_config=private_config,
        authorized_networks_enabled=authorized_networks is not None,
        authorized_cidr_blocks=blocks,
        gcp_public_cidrs_access_enabled=gcp_public_cidrs,
        node_pools=pools,
        description=description,
    )
