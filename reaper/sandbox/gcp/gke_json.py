"""GKE (container v1) resources as proto3 JSON, which leaves out every default value.

A node pool of size 0 has no ``initialNodeCount``; ``autoscaling`` turned off is ``{}``;
an unset message is absent while a set but empty one is ``{}`` (forseti-security's
recorded cluster shows ``"legacyAbac": {}`` and ``"masterAuthorizedNetworksConfig": {}``).
``None`` marks "absent" and is pruned along with zeros, ``False``, ``""`` and ``[]``.

Node pools carry no current size: their ``instanceGroupUrls`` name Compute instance
group managers whose ``targetSize`` is the size per zone (terraform-provider-google's
flattenNodePool reads it there: "Node pools don't expose the current node count in their
API"). The cluster's deprecated ``currentNodeCount`` is the total over all pools.
"""

from __future__ import annotations

from typing import Any

from reaper.sandbox.gcp.compute_json import group_manager_url
from reaper.sandbox.gcp.model import Cluster, GkeOperation, NodePool
from reaper.sandbox.gcp.timefmt import gke_create_time, gke_operation_time
from reaper.sandbox.gcp.world import region_of

JsonObject = dict[str, Any]
BASE = "https://container.googleapis.com/v1"
_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
]
_RPC_CODES = {400: 9, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14}
"""google.rpc.Code for an HTTP status, for a failed operation's ``error.code``."""
_FAKE_CA = (
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCnJlYXBlci1zYW5kYm94Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
)


def prune(message: JsonObject) -> JsonObject:
    """``message`` without proto3 defaults; dicts stay even when emptied (set messages). Pure."""
    return {key: _prune(item) for key, item in message.items() if not _default(item)}


def _default(value: Any) -> bool:
    return value is None or value is False or value == 0 or value == "" or value == []


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return prune(value)
    if isinstance(value, list):
        return [_prune(item) for item in value]
    return value


def _map(values: dict[str, str]) -> dict[str, str] | None:
    return dict(values) if values else None


def cluster_url(cluster: Cluster) -> str:
    return f"{BASE}/projects/{cluster.project}/locations/{cluster.location}/clusters/{cluster.name}"


def group_manager_name(cluster: Cluster, pool: NodePool) -> str:
    """``gke-<cluster>-<pool>-<hash>-grp``, cut like GKE cuts long names. Pure."""
    return f"gke-{cluster.name[:14]}-{pool.name[:14]}-{pool.group_suffix}-grp"


def group_manager_urls(cluster: Cluster, pool: NodePool) -> list[str]:
    name = group_manager_name(cluster, pool)
    return [group_manager_url(cluster.project, zone, name) for zone in pool.locations]


def node_pool_json(cluster: Cluster, pool: NodePool) -> JsonObject:
    """A NodePool message. Pure."""
    autoscaling: JsonObject = {}
    scaling = pool.autoscaling
    if scaling.enabled:
        low, high = (
            ("totalMinNodeCount", "totalMaxNodeCount")
            if scaling.total
            else ("minNodeCount", "maxNodeCount")
        )
        autoscaling = {
            "enabled": True,
            low: scaling.min_node_count,
            high: scaling.max_node_count,
            "locationPolicy": scaling.location_policy,
        }
    return prune(
        {
            "name": pool.name,
            "config": {
                "machineType": pool.machine_type,
                "diskSizeGb": 100,
                "oauthScopes": list(_SCOPES),
                "imageType": "COS_CONTAINERD",
                "serviceAccount": "default",
                "diskType": "pd-balanced",
            },
            "initialNodeCount": pool.initial_node_count,
            "autoscaling": autoscaling,
            "management": {"autoUpgrade": True, "autoRepair": True},
            "selfLink": f"{cluster_url(cluster)}/nodePools/{pool.name}",
            "version": pool.version,
            "instanceGroupUrls": group_manager_urls(cluster, pool),
            "status": pool.status,
            "locations": list(pool.locations),
            "podIpv4CidrSize": 24,
            "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
        }
    )


def current_node_count(cluster: Cluster) -> int:
    """Nodes over all pools and zones: what ``currentNodeCount`` reports. Pure."""
    return sum(pool.node_count * len(pool.locations) for pool in cluster.node_pools)


def cluster_json(cluster: Cluster) -> JsonObject:
    """A Cluster message. Pure."""
    region = region_of(cluster.location) if cluster.location.count("-") >= 2 else cluster.location
    authorized: JsonObject = {}
    if cluster.authorized_networks_enabled:
        authorized = {
            "enabled": True,
            "cidrBlocks": [dict(b) for b in cluster.authorized_cidr_blocks],
        }
    if cluster.gcp_public_cidrs_access_enabled:
        authorized["gcpPublicCidrsAccessEnabled"] = True
    return prune(
        {
            "name": cluster.name,
            "description": cluster.description,
            "masterAuth": {"clusterCaCertificate": _FAKE_CA},
            "loggingService": "logging.googleapis.com/kubernetes",
            "monitoringService": "monitoring.googleapis.com/kubernetes",
            "network": cluster.network,
            "clusterIpv4Cidr": "10.4.0.0/14",
            "subnetwork": cluster.subnetwork,
            "nodePools": [node_pool_json(cluster, pool) for pool in cluster.node_pools],
            "locations": list(cluster.locations),
            "labelFingerprint": cluster.label_fingerprint,
            "resourceLabels": _map(cluster.labels),
            "legacyAbac": {},
            "ipAllocationPolicy": {"useIpAliases": True},
            "masterAuthorizedNetworksConfig": authorized,
            "privateClusterConfig": cluster.private_cluster_config,
            "selfLink": cluster_url(cluster),
            "zone": cluster.location,
            "endpoint": cluster.endpoint,
            "initialClusterVersion": cluster.initial_version,
            "currentMasterVersion": cluster.master_version,
            "currentNodeVersion": min((p.version for p in cluster.node_pools), default=""),
            "createTime": gke_create_time(cluster.created),
            "status": cluster.status,
            "nodeIpv4CidrSize": 24,
            "servicesIpv4Cidr": "10.8.0.0/20",
            "instanceGroupUrls": [
                url for pool in cluster.node_pools for url in group_manager_urls(cluster, pool)
            ],
            "currentNodeCount": current_node_count(cluster),
            "location": cluster.location,
            "id": cluster.id,
            "networkConfig": {
                "network": f"projects/{cluster.project}/global/networks/{cluster.network}",
                "subnetwork": (
                    f"projects/{cluster.project}/regions/{region}/subnetworks/{cluster.subnetwork}"
                ),
            },
            "releaseChannel": {"channel": "REGULAR"},
        }
    )


def operation_json(op: GkeOperation, project_number: int) -> JsonObject:
    """An Operation message; its links use the project number, as recorded ones do. Pure."""
    scope = f"{BASE}/projects/{project_number}/locations/{op.location}"
    target = f"{scope}/clusters/{op.cluster}"
    if op.node_pool is not None:
        target += f"/nodePools/{op.node_pool}"
    error = None
    if op.error is not None:
        code = _RPC_CODES.get(op.error.http_status, 13)
        error = {"code": code, "message": op.error.message}
    return prune(
        {
            "name": op.name,
            "zone": op.location,
            "operationType": op.operation_type,
            "status": op.status,
            "detail": op.detail,
            "statusMessage": None if op.error is None else op.error.message,
            "selfLink": f"{scope}/operations/{op.name}",
            "targetLink": target,
            "location": op.location,
            "startTime": gke_operation_time(op.started),
            "endTime": None if op.ended is None else gke_operation_time(op.ended),
            "error": error,
        }
    )
