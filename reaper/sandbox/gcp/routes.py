"""The URL table: which handler serves which verb and path, under which API method name.

Paths are the REST bindings the client libraries use (compute v1 and container v1,
including GKE's older ``zones`` form, and Resource Manager v3's project search and folder
list); method names are the discovery-document ids (``compute.instances.aggregatedList``)
that request counts and injections are keyed by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from reaper.sandbox.gcp import compute_global as cg
from reaper.sandbox.gcp import compute_instances as ci
from reaper.sandbox.gcp import compute_operations as co
from reaper.sandbox.gcp import gke_api as gke
from reaper.sandbox.gcp import resource_manager as rm
from reaper.sandbox.gcp.request import Handler

SYSTEM_PARAMETERS = frozenset(
    {
        "alt",
        "$alt",
        "fields",
        "$fields",
        "key",
        "prettyPrint",
        "quotaUser",
        "userIp",
        "access_token",
        "callback",
        "upload_protocol",
        "uploadType",
        "$.xgafv",
    }
)
_LIST = frozenset({"filter", "maxResults", "pageToken", "orderBy", "returnPartialSuccess"})
_AGGREGATED = _LIST | {"includeAllScopes", "serviceProjectNumber"}
_MUTATION = frozenset({"requestId"})
_GKE_NAMING = frozenset({"name", "projectId", "zone", "clusterId", "nodePoolId", "operationId"})
_GKE_LIST = frozenset({"parent", "projectId", "zone", "clusterId"})
_COMPUTE = "/compute/v1/projects/{project}"
_CLUSTERS = "/v1/projects/{project}/locations/{location}/clusters"
_ZONAL = "/v1/projects/{project}/zones/{zone}/clusters"


@dataclass(frozen=True)
class Route:
    """One REST binding."""

    verb: str
    pattern: re.Pattern[str]
    method: str
    """The API method name, e.g. ``container.projects.locations.clusters.delete``."""
    handler: Handler
    query: frozenset[str]
    """The query parameters it accepts besides the system ones."""
    body: bool


def _route(
    verb: str,
    template: str,
    method: str,
    handler: Handler,
    query: frozenset[str] = frozenset(),
    body: bool = False,
) -> Route:
    regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/:]+)", template)
    return Route(verb, re.compile(regex), method, handler, query, body)


def _compute() -> list[Route]:
    zone = f"{_COMPUTE}/zones/{{zone}}"
    instance = f"{zone}/instances/{{instance}}"
    return [
        _route(
            "GET",
            f"{_COMPUTE}/aggregated/instances",
            "compute.instances.aggregatedList",
            ci.aggregated_list,
            _AGGREGATED,
        ),
        _route("GET", f"{zone}/instances", "compute.instances.list", ci.list_instances, _LIST),
        _route("GET", instance, "compute.instances.get", ci.get_instance),
        _route(
            "DELETE",
            instance,
            "compute.instances.delete",
            ci.delete_instance,
            _MUTATION | {"noGracefulShutdown"},
        ),
        _route(
            "POST",
            f"{instance}/setLabels",
            "compute.instances.setLabels",
            ci.set_labels,
            _MUTATION,
            body=True,
        ),
        _route(
            "POST",
            f"{instance}/setTags",
            "compute.instances.setTags",
            ci.set_tags,
            _MUTATION,
            body=True,
        ),
        _route(
            "POST",
            f"{instance}/setMetadata",
            "compute.instances.setMetadata",
            ci.set_metadata,
            _MUTATION,
            body=True,
        ),
        _route(
            "POST",
            f"{instance}/stop",
            "compute.instances.stop",
            ci.stop_instance,
            _MUTATION | {"discardLocalSsd", "noGracefulShutdown"},
        ),
        _route(
            "POST", f"{instance}/start", "compute.instances.start", ci.start_instance, _MUTATION
        ),
        _route(
            "GET",
            f"{zone}/operations/{{operation}}",
            "compute.zoneOperations.get",
            co.get_operation,
        ),
        _route(
            "POST",
            f"{zone}/operations/{{operation}}/wait",
            "compute.zoneOperations.wait",
            co.wait_operation,
        ),
        _route(
            "GET",
            f"{_COMPUTE}/global/operations/{{operation}}",
            "compute.globalOperations.get",
            co.get_operation,
        ),
        _route(
            "POST",
            f"{_COMPUTE}/global/operations/{{operation}}/wait",
            "compute.globalOperations.wait",
            co.wait_operation,
        ),
        _route("GET", f"{zone}/disks/{{disk}}", "compute.disks.get", cg.get_disk),
        _route("GET", f"{zone}/disks", "compute.disks.list", cg.list_disks, _LIST),
        _route(
            "GET",
            f"{_COMPUTE}/aggregated/disks",
            "compute.disks.aggregatedList",
            cg.aggregated_disks,
            _AGGREGATED,
        ),
        _route("GET", f"{_COMPUTE}/global/images/{{image}}", "compute.images.get", cg.get_image),
        _route(
            "GET", f"{_COMPUTE}/global/networks", "compute.networks.list", cg.list_networks, _LIST
        ),
        _route(
            "GET", f"{_COMPUTE}/global/networks/{{network}}", "compute.networks.get", cg.get_network
        ),
        _route(
            "GET",
            f"{_COMPUTE}/global/firewalls",
            "compute.firewalls.list",
            cg.list_firewalls,
            _LIST,
        ),
        _route(
            "POST",
            f"{_COMPUTE}/global/firewalls",
            "compute.firewalls.insert",
            cg.insert_firewall,
            _MUTATION,
            body=True,
        ),
        _route(
            "GET",
            f"{_COMPUTE}/global/firewalls/{{firewall}}",
            "compute.firewalls.get",
            cg.get_firewall,
        ),
        _route(
            "DELETE",
            f"{_COMPUTE}/global/firewalls/{{firewall}}",
            "compute.firewalls.delete",
            cg.delete_firewall,
            _MUTATION,
        ),
        _route(
            "GET",
            f"{zone}/instanceGroupManagers/{{manager}}",
            "compute.instanceGroupManagers.get",
            cg.get_group_manager,
        ),
    ]


def _gke(clusters: str, scope: str) -> list[Route]:
    prefix = f"container.projects.{scope}"
    cluster = f"{clusters}/{{cluster}}"
    pool = f"{cluster}/nodePools/{{pool}}"
    ops = clusters.rsplit("/", 1)[0] + "/operations"
    zonal = scope == "zones"
    return [
        _route("GET", clusters, f"{prefix}.clusters.list", gke.list_clusters, _GKE_LIST),
        _route("GET", cluster, f"{prefix}.clusters.get", gke.get_cluster, _GKE_NAMING),
        _route("DELETE", cluster, f"{prefix}.clusters.delete", gke.delete_cluster, _GKE_NAMING),
        _route("PUT", cluster, f"{prefix}.clusters.update", gke.update_cluster, body=True),
        _route(
            "POST",
            f"{cluster}/resourceLabels" if zonal else f"{cluster}:setResourceLabels",
            f"{prefix}.clusters.{'resourceLabels' if zonal else 'setResourceLabels'}",
            gke.set_resource_labels,
            body=True,
        ),
        _route(
            "GET",
            f"{cluster}/nodePools",
            f"{prefix}.clusters.nodePools.list",
            gke.list_node_pools,
            _GKE_LIST,
        ),
        _route("GET", pool, f"{prefix}.clusters.nodePools.get", gke.get_node_pool, _GKE_NAMING),
        _route(
            "POST",
            f"{pool}/setSize" if zonal else f"{pool}:setSize",
            f"{prefix}.clusters.nodePools.setSize",
            gke.set_node_pool_size,
            body=True,
        ),
        _route(
            "POST",
            f"{pool}/autoscaling" if zonal else f"{pool}:setAutoscaling",
            f"{prefix}.clusters.nodePools.{'autoscaling' if zonal else 'setAutoscaling'}",
            gke.set_node_pool_autoscaling,
            body=True,
        ),
        _route("GET", ops, f"{prefix}.operations.list", gke.list_operations, _GKE_LIST),
        _route(
            "GET",
            f"{ops}/{{operation}}",
            f"{prefix}.operations.get",
            gke.get_operation,
            _GKE_NAMING,
        ),
    ]


def _resource_manager() -> list[Route]:
    listing = frozenset({"parent", "pageSize", "pageToken", "showDeleted"})
    search = frozenset({"query", "pageSize", "pageToken"})
    return [
        _route(
            "GET",
            "/v3/projects:search",
            "cloudresourcemanager.projects.search",
            rm.search_projects,
            search,
        ),
        _route("GET", "/v3/folders", "cloudresourcemanager.folders.list", rm.list_folders, listing),
    ]


ROUTES: tuple[Route, ...] = (
    *_compute(),
    *_gke(_CLUSTERS, "locations"),
    *_gke(_ZONAL, "zones"),
    *_resource_manager(),
)


def resolve(verb: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for ``verb`` and ``path`` with its decoded path parameters, if any."""
    for route in ROUTES:
        if route.verb != verb:
            continue
        match = route.pattern.fullmatch(path)
        if match is not None:
            return route, {key: unquote(value) for key, value in match.groupdict().items()}
    return None
