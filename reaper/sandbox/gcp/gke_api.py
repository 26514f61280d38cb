"""Handlers for GKE (container v1) clusters, node pools and operations.

Mutations are refused while a conflicting operation runs on the cluster, with the
service's wording ("Operation operation-... is currently upgrading cluster X. Please
wait and try again once it is done.", HTTP 400 FAILED_PRECONDITION, as recorded in
terraform-provider-google#3650 and #10366). Label writes apply at once; deletes,
resizes and updates apply when their operation is DONE.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from reaper.sandbox.gcp.errors import (
    gke_error,
    gke_invalid,
    gke_not_found,
    reject_unknown_fields,
)
from reaper.sandbox.gcp.fingerprints import gke_fingerprint
from reaper.sandbox.gcp.gke_json import cluster_json, node_pool_json, operation_json
from reaper.sandbox.gcp.labels import label_problem
from reaper.sandbox.gcp.model import Autoscaling, Cluster, Effect, GkeOperation, NodePool, Project
from reaper.sandbox.gcp.request import ApiRequest, JsonObject
from reaper.sandbox.gcp.world import World, region_of

_NAMING = frozenset({"name", "projectId", "zone", "clusterId"})
_POOL_NAMING = _NAMING | {"nodePoolId"}
_CLUSTER_VERBS = {
    "CREATE_CLUSTER": "creating cluster",
    "DELETE_CLUSTER": "deleting cluster",
    "UPGRADE_MASTER": "upgrading cluster",
    "UPDATE_CLUSTER": "updating cluster",
    "REPAIR_CLUSTER": "repairing cluster",
    "SET_MASTER_AUTH": "updating cluster",
}
_POOL_VERBS = {
    "CREATE_NODE_POOL": "creating a node pool for cluster",
    "DELETE_NODE_POOL": "deleting a node pool for cluster",
    "UPGRADE_NODES": "upgrading a node pool for cluster",
    "SET_NODE_POOL_SIZE": "resizing a node pool for cluster",
    "UPDATE_CLUSTER": "updating a node pool for cluster",
}


def _location_kind(request: ApiRequest) -> str:
    return "zone" if "zone" in request.params else "Location"


def _scope(world: World, request: ApiRequest, *, allow_all: bool) -> tuple[Project, str]:
    """The project and location of the request, or GKE's 400 for an unknown one."""
    p = request.params["project"]
    location = request.params.get("location") or request.params["zone"]
    project = world.project(p)
    if project is None:
        raise gke_invalid(f"Project 'project:{p}' not found or deleted.")
    if location == "-" and allow_all:
        return project, location
    known = set(project.zones) | {region_of(z) for z in project.zones}
    known |= {c.location for (cp, _, _), c in world.clusters.items() if cp == p}
    if location not in known:
        raise gke_invalid(f'{_location_kind(request)} "{location}" does not exist.')
    return project, location


def _cluster(world: World, request: ApiRequest) -> Cluster:
    project, location = _scope(world, request, allow_all=False)
    name = request.params["cluster"]
    found = world.clusters.get((project.project_id, location, name))
    if found is None:
        raise gke_not_found(f"projects/{project.project_id}/locations/{location}/clusters/{name}")
    return found


def _pool(cluster: Cluster, request: ApiRequest) -> NodePool:
    name = request.params["pool"]
    for pool in cluster.node_pools:
        if pool.name == name:
            return pool
    raise gke_not_found(
        f"projects/{cluster.project}/locations/{cluster.location}/clusters/{cluster.name}"
        f"/nodePools/{name}"
    )


def _refuse_if_busy(world: World, cluster: Cluster, node_pool: str | None) -> None:
    """400 FAILED_PRECONDITION while an operation conflicting with this mutation runs.

    A cluster-wide operation blocks every mutation; a node pool's blocks mutations of
    that pool and of the cluster as a whole; label writes block nothing.
    """
    for op in world.running_gke_operations(cluster.project, cluster.location, cluster.name):
        if op.operation_type == "SET_LABELS":
            continue
        if op.node_pool is None:
            verb = _CLUSTER_VERBS.get(op.operation_type, "operating on cluster")
        elif node_pool is None or op.node_pool == node_pool:
            verb = _POOL_VERBS.get(op.operation_type, "operating on a node pool for cluster")
        else:
            continue
        raise gke_error(
            400,
            "FAILED_PRECONDITION",
            f"Operation {op.name} is currently {verb} {cluster.name}. "
            "Please wait and try again once it is done.",
        )


def _answer(world: World, op: GkeOperation) -> JsonObject:
    return operation_json(op, world.projects[op.project].number)


def list_clusters(world: World, request: ApiRequest) -> JsonObject:
    """``clusters.list``; ``-`` means every location. Missing locations are reported."""
    project, location = _scope(world, request, allow_all=True)
    p = project.project_id
    found, missing = [], set()
    for (cp, cl, _), cluster in sorted(world.clusters.items()):
        if cp != p or location not in ("-", cl):
            continue
        if world.faults.location_missing(p, cl):
            missing.add(cl)
            continue
        found.append(cluster_json(cluster))
    if location != "-" and world.faults.location_missing(p, location):
        missing.add(location)
    result: JsonObject = {}
    if found:
        result["clusters"] = found
    if missing:
        result["missingZones"] = sorted(missing)
    return result


def get_cluster(world: World, request: ApiRequest) -> JsonObject:
    return cluster_json(_cluster(world, request))


def delete_cluster(world: World, request: ApiRequest) -> JsonObject:
    """``clusters.delete``: STOPPING now, gone when DONE (ERROR if the operation fails)."""
    cluster = _cluster(world, request)
    _refuse_if_busy(world, cluster, None)
    key = (cluster.project, cluster.location, cluster.name)

    def done() -> None:
        world.clusters.pop(key, None)

    def failed() -> None:
        cluster.status = "ERROR"

    cluster.status = "STOPPING"
    op = world.start_gke_operation(
        project=cluster.project,
        location=cluster.location,
        operation_type="DELETE_CLUSTER",
        cluster=cluster.name,
        node_pool=None,
        method=request.method,
        on_done=done,
        on_error=failed,
    )
    return _answer(world, op)


def set_resource_labels(world: World, request: ApiRequest) -> JsonObject:
    """``clusters.setResourceLabels``: body ``{resourceLabels, labelFingerprint}``."""
    cluster = _cluster(world, request)
    body = request.json()
    reject_unknown_fields(body, _NAMING | {"resourceLabels", "labelFingerprint"}, gke=True)
    labels = body.get("resourceLabels") or {}
    problem = label_problem(labels) if isinstance(labels, dict) else "resourceLabels must be a map."
    if problem is not None:
        raise gke_invalid(problem)
    _refuse_if_busy(world, cluster, None)
    supplied = body.get("labelFingerprint", "")
    if supplied != cluster.label_fingerprint:
        raise gke_error(
            400,
            "FAILED_PRECONDITION",
            "Labels could not be set due to fingerprint mismatch; try again with the proper "
            f'fingerprint: incorrect fingerprint supplied was "{supplied}", the expected one '
            f'is "{cluster.label_fingerprint}".',
        )
    cluster.labels = dict(labels)
    cluster.label_fingerprint = gke_fingerprint(cluster.labels)
    op = world.start_gke_operation(
        project=cluster.project,
        location=cluster.location,
        operation_type="SET_LABELS",
        cluster=cluster.name,
        node_pool=None,
        method=request.method,
    )
    return _answer(world, op)


def list_node_pools(world: World, request: ApiRequest) -> JsonObject:
    cluster = _cluster(world, request)
    pools = [node_pool_json(cluster, pool) for pool in cluster.node_pools]
    return {"nodePools": pools} if pools else {}


def get_node_pool(world: World, request: ApiRequest) -> JsonObject:
    cluster = _cluster(world, request)
    return node_pool_json(cluster, _pool(cluster, request))


def _pool_operation(
    world: World,
    request: ApiRequest,
    cluster: Cluster,
    pool: NodePool,
    operation_type: str,
    apply: Effect,
) -> JsonObject:
    _refuse_if_busy(world, cluster, pool.name)
    before = pool.status

    def done() -> None:
        apply()
        pool.status = before

    def failed() -> None:
        pool.status = before

    pool.status = "RECONCILING"
    op = world.start_gke_operation(
        project=cluster.project,
        location=cluster.location,
        operation_type=operation_type,
        cluster=cluster.name,
        node_pool=pool.name,
        method=request.method,
        on_done=done,
        on_error=failed,
    )
    return _answer(world, op)


def set_node_pool_size(world: World, request: ApiRequest) -> JsonObject:
    """``nodePools.setSize``: body ``{nodeCount}`` (absent = 0, proto3), nodes per zone.

    It resizes the pool's instance groups; ``initialNodeCount`` stays what it was.
    """
    cluster = _cluster(world, request)
    pool = _pool(cluster, request)
    body = request.json()
    reject_unknown_fields(body, _POOL_NAMING | {"nodeCount"}, gke=True)
    count = _count(body.get("nodeCount", 0), "node_count")

    def apply() -> None:
        pool.node_count = count

    return _pool_operation(world, request, cluster, pool, "SET_NODE_POOL_SIZE", apply)


def _count(raw: Any, field: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise gke_invalid(f"Invalid value for {field}: {raw!r}.")
    try:
        value = int(raw)
    except ValueError:
        raise gke_invalid(f"Invalid value for {field}: {raw!r}.") from None
    if value < 0:
        raise gke_invalid(f"{field} must be non-negative, got {value}.")
    return value


_LOCATION_POLICIES = ("BALANCED", "ANY")
_LOCATION_POLICY_NUMBERS = {1: "BALANCED", 2: "ANY"}
_AUTOSCALING_FIELDS = frozenset(
    {
        "enabled",
        "minNodeCount",
        "maxNodeCount",
        "totalMinNodeCount",
        "totalMaxNodeCount",
        "locationPolicy",
        "autoprovisioned",
    }
)


def _autoscaling(raw: Any) -> Autoscaling:
    """A NodePoolAutoscaling: per-zone (``minNodeCount``/``maxNodeCount``) or total
    (``totalMinNodeCount``/``totalMaxNodeCount``) limits, never both; ``locationPolicy``
    ``BALANCED`` (the default) or ``ANY``."""
    if not isinstance(raw, dict):
        raise gke_invalid("autoscaling must be an object.")
    reject_unknown_fields(raw, _AUTOSCALING_FIELDS, gke=True)
    enabled = bool(raw.get("enabled", False))
    per_zone = "minNodeCount" in raw or "maxNodeCount" in raw
    total = "totalMinNodeCount" in raw or "totalMaxNodeCount" in raw
    if per_zone and total:
        raise gke_invalid(
            "Autoscaling limits: total_min_node_count and total_max_node_count are mutually "
            "exclusive with min_node_count and max_node_count."
        )
    low_key, high_key = (
        ("totalMinNodeCount", "totalMaxNodeCount") if total else ("minNodeCount", "maxNodeCount")
    )
    field = "total_" if total else ""
    low = _count(raw.get(low_key, 0), f"{field}min_node_count")
    high = _count(raw.get(high_key, 0), f"{field}max_node_count")
    policy = raw.get("locationPolicy") or "BALANCED"
    # The REST clients send enums as numbers (``enum-encoding=int``); JSON may name them.
    policy = _LOCATION_POLICY_NUMBERS.get(policy, policy) if isinstance(policy, int) else policy
    if policy not in _LOCATION_POLICIES:
        raise gke_invalid(f"Invalid value for location_policy: {policy!r}.")
    if not enabled:
        return Autoscaling(False, 0, 0)
    if high < 1 or low > high:
        raise gke_invalid(
            f"Maximum node count must be at least 1 and at least the minimum node count "
            f"(min {low}, max {high})."
        )
    return Autoscaling(True, low, high, total, policy)


def set_node_pool_autoscaling(world: World, request: ApiRequest) -> JsonObject:
    """``nodePools.setAutoscaling``: ``{autoscaling: {}}`` (all defaults) turns it off."""
    cluster = _cluster(world, request)
    pool = _pool(cluster, request)
    body = request.json()
    reject_unknown_fields(body, _POOL_NAMING | {"autoscaling"}, gke=True)
    wanted = _autoscaling(body.get("autoscaling") or {})

    def apply() -> None:
        pool.autoscaling = wanted

    return _pool_operation(world, request, cluster, pool, "UPDATE_CLUSTER", apply)


_AUTHORIZED_FIELDS = frozenset(
    {"enabled", "cidrBlocks", "gcpPublicCidrsAccessEnabled", "privateEndpointEnforcementEnabled"}
)
"""MasterAuthorizedNetworksConfig's fields."""


def _cidr_blocks(raw: Any) -> list[dict[str, str]]:
    blocks = []
    for item in raw or []:
        cidr = item.get("cidrBlock", "") if isinstance(item, dict) else ""
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            raise gke_invalid(
                f'Invalid master authorized networks: invalid CIDR block "{cidr}".'
            ) from None
        block = {"cidrBlock": cidr}
        if item.get("displayName"):
            block["displayName"] = str(item["displayName"])
        blocks.append(block)
    return blocks


def update_cluster(world: World, request: ApiRequest) -> JsonObject:
    """``clusters.update`` with ``desiredMasterAuthorizedNetworksConfig`` or pool autoscaling.

    Other ``desired*`` fields answer 501: the fake would rather refuse than pretend.
    """
    cluster = _cluster(world, request)
    body = request.json()
    reject_unknown_fields(body, _NAMING | {"update"}, gke=True)
    update = body.get("update") or {}
    if not isinstance(update, dict) or not update:
        raise gke_invalid("Must specify a field to update.")
    supported = {
        "desiredMasterAuthorizedNetworksConfig",
        "desiredNodePoolAutoscaling",
        "desiredNodePoolId",
    }
    for name in update:
        if name not in supported:
            raise gke_error(
                501, "UNIMPLEMENTED", f"The reaper sandbox does not implement update.{name}."
            )
    if "desiredNodePoolAutoscaling" in update:
        pool = next(
            (p for p in cluster.node_pools if p.name == update.get("desiredNodePoolId")), None
        )
        if pool is None:
            raise gke_invalid(f'Node pool "{update.get("desiredNodePoolId", "")}" not found.')
        wanted = _autoscaling(update["desiredNodePoolAutoscaling"])

        def apply_pool() -> None:
            pool.autoscaling = wanted

        return _pool_operation(world, request, cluster, pool, "UPDATE_CLUSTER", apply_pool)
    config = update.get("desiredMasterAuthorizedNetworksConfig")
    if not isinstance(config, dict):
        raise gke_invalid("Must specify a field to update.")
    reject_unknown_fields(config, _AUTHORIZED_FIELDS, gke=True)
    enabled = bool(config.get("enabled", False))
    blocks = _cidr_blocks(config.get("cidrBlocks"))
    gcp_public = config.get("gcpPublicCidrsAccessEnabled")
    if gcp_public is not None and not isinstance(gcp_public, bool):
        raise gke_invalid(f"Invalid value for gcp_public_cidrs_access_enabled: {gcp_public!r}.")
    _refuse_if_busy(world, cluster, None)
    before = cluster.status

    def done() -> None:
        cluster.authorized_networks_enabled = enabled
        cluster.authorized_cidr_blocks = blocks if enabled else []
        if gcp_public is not None:  # an optional field: left as it was when not sent
            cluster.gcp_public_cidrs_access_enabled = gcp_public
        cluster.status = before

    def failed() -> None:
        cluster.status = before

    cluster.status = "RECONCILING"
    op = world.start_gke_operation(
        project=cluster.project,
        location=cluster.location,
        operation_type="UPDATE_CLUSTER",
        cluster=cluster.name,
        node_pool=None,
        method=request.method,
        on_done=done,
        on_error=failed,
    )
    return _answer(world, op)


def list_operations(world: World, request: ApiRequest) -> JsonObject:
    project, location = _scope(world, request, allow_all=True)
    found = [
        _answer(world, op)
        for op in world.gke_operations.values()
        if op.project == project.project_id and location in ("-", op.location)
    ]
    return {"operations": found} if found else {}


def get_operation(world: World, request: ApiRequest) -> JsonObject:
    """``operations.get``: one poll of the operation."""
    project, location = _scope(world, request, allow_all=False)
    name = request.params["operation"]
    op = world.gke_operations.get(name)
    if op is None or op.project != project.project_id or op.location != location:
        raise gke_not_found(f"projects/{project.project_id}/locations/{location}/operations/{name}")
    world.poll_gke(op)
    return _answer(world, op)
