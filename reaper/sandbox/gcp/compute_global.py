"""Handlers for disks, images, networks, firewalls and GKE's instance group managers."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from reaper.sandbox.gcp.compute_common import (
    idempotent,
    not_ready,
    require_project,
    require_zone,
)
from reaper.sandbox.gcp.compute_json import (
    disk_json,
    firewall_json,
    firewall_url,
    group_manager_json,
    image_json,
    network_json,
    project_url,
)
from reaper.sandbox.gcp.errors import (
    compute_error,
    compute_invalid,
    compute_not_found,
    reject_unknown_fields,
)
from reaper.sandbox.gcp.filters import FilterSyntaxError, parse_filter
from reaper.sandbox.gcp.gke_json import group_manager_name
from reaper.sandbox.gcp.model import ComputeOperation, Disk, Firewall
from reaper.sandbox.gcp.paging import max_results, page
from reaper.sandbox.gcp.request import ApiRequest, JsonObject
from reaper.sandbox.gcp.seeding import mixed_families
from reaper.sandbox.gcp.timefmt import compute_timestamp
from reaper.sandbox.gcp.world import World, region_of

_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
_NETWORK_REF = re.compile(
    r"(?:.*/)?(?:projects/(?P<project>[^/]+)/)?global/networks/(?P<name>[^/]+)"
)
_FIREWALL_FIELDS = frozenset(
    {
        "kind",
        "name",
        "description",
        "network",
        "priority",
        "direction",
        "sourceRanges",
        "destinationRanges",
        "sourceTags",
        "targetTags",
        "sourceServiceAccounts",
        "targetServiceAccounts",
        "allowed",
        "denied",
        "disabled",
        "logConfig",
    }
)
_PROTOCOLS = frozenset({"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"})


def get_disk(world: World, request: ApiRequest) -> JsonObject:
    p, z, name = request.params["project"], request.params["zone"], request.params["disk"]
    require_zone(world, p, z)
    disk = world.disks.get((p, z, name))
    if disk is None:
        raise compute_not_found(f"projects/{p}/zones/{z}/disks/{name}")
    return _disk_body(world, disk)


def _disk_body(world: World, disk: Disk) -> JsonObject:
    image_id = None
    if disk.source_image is not None:
        parts = disk.source_image.split("/")
        image = world.images.get((parts[-4], parts[-1])) if len(parts) >= 4 else None
        image_id = image.id if image is not None else None
    return disk_json(disk, image_id)


def _disk_filter(request: ApiRequest) -> Callable[[JsonObject], bool]:
    text = request.arg("filter")
    if not text:
        return lambda _body: True
    try:
        return parse_filter(text)
    except FilterSyntaxError as exc:
        raise compute_invalid(
            f"Invalid value for field 'filter': '{text}'. Invalid list filter expression: {exc}."
        ) from exc


def list_disks(world: World, request: ApiRequest) -> JsonObject:
    """``disks.list`` in one zone, by name, in pages of ``maxResults`` (500 at most)."""
    p, z = request.params["project"], request.params["zone"]
    require_zone(world, p, z)
    wanted = _disk_filter(request)
    rows = [
        ((name,), body)
        for (dp, dz, name), disk in sorted(world.disks.items())
        if (dp, dz) == (p, z) and wanted(body := _disk_body(world, disk))
    ]
    chosen, token = page(rows, max_results(request.arg("maxResults")), request.arg("pageToken"))
    result: JsonObject = {
        "kind": "compute#diskList",
        "id": f"projects/{p}/zones/{z}/disks",
        "selfLink": f"{project_url(p)}/zones/{z}/disks",
    }
    if chosen:
        result["items"] = [body for _key, body in chosen]
    if token:
        result["nextPageToken"] = token
    return result


def aggregated_disks(world: World, request: ApiRequest) -> JsonObject:
    """``disks.aggregatedList``: every zone keyed ``zones/<zone>``, ``NO_RESULTS_ON_PAGE``
    for a zone with none on this page, and unreachable zones (the instances' outage
    switch) in ``unreachables``, as ``instances.aggregatedList`` does."""
    p = request.params["project"]
    project = require_project(world, p)
    wanted = _disk_filter(request)
    order = {zone: index for index, zone in enumerate(project.zones)}
    unreachable = [z for z in project.zones if world.faults.zone_unreachable(p, z)]
    rows = [
        ((f"{order[dz]:06d}", name), body)
        for (dp, dz, name), disk in sorted(world.disks.items())
        if dp == p and dz not in unreachable and wanted(body := _disk_body(world, disk))
    ]
    rows.sort(key=lambda row: row[0])
    chosen, token = page(rows, max_results(request.arg("maxResults")), request.arg("pageToken"))
    by_zone: dict[str, list[JsonObject]] = {}
    for _key, body in chosen:
        by_zone.setdefault(body["zone"].rsplit("/", 1)[1], []).append(body)
    items: JsonObject = {}
    for zone in project.zones:
        scope = f"zones/{zone}"
        if zone in unreachable:
            continue
        if zone in by_zone:
            items[scope] = {"disks": by_zone[zone]}
        else:
            message = f"There are no results for scope '{scope}' on this page."
            items[scope] = {
                "warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": message,
                    "data": [{"key": "scope", "value": scope}],
                }
            }
    result: JsonObject = {
        "kind": "compute#diskAggregatedList",
        "id": f"projects/{p}/aggregated/disks",
        "items": items,
        "selfLink": f"{project_url(p)}/aggregated/disks",
    }
    if token:
        result["nextPageToken"] = token
    if unreachable:
        result["unreachables"] = [f"zones/{zone}" for zone in unreachable]
    return result


def get_image(world: World, request: ApiRequest) -> JsonObject:
    """``images.get`` in any project (public image projects included); 404 once deleted."""
    p, name = request.params["project"], request.params["image"]
    image = world.images.get((p, name))
    if image is None:
        raise compute_not_found(f"projects/{p}/global/images/{name}")
    return image_json(image)


def _regions(world: World, project: str) -> list[str]:
    found = world.project(project)
    return sorted({region_of(z) for z in found.zones}) if found is not None else []


def get_network(world: World, request: ApiRequest) -> JsonObject:
    p, name = request.params["project"], request.params["network"]
    require_project(world, p)
    network = world.networks.get((p, name))
    if network is None:
        raise compute_not_found(f"projects/{p}/global/networks/{name}")
    return network_json(network, _regions(world, p))


def _listing(
    world: World, request: ApiRequest, kind: str, path: str, rows: list[tuple[str, JsonObject]]
) -> JsonObject:
    text = request.arg("filter")
    if text:
        try:
            predicate = parse_filter(text)
        except FilterSyntaxError as exc:
            raise compute_invalid(
                f"Invalid value for field 'filter': '{text}'. "
                f"Invalid list filter expression: {exc}."
            ) from exc
        rows = [row for row in rows if predicate(row[1])]
    keyed = sorted(((name,), body) for name, body in rows)
    chosen, token = page(keyed, max_results(request.arg("maxResults")), request.arg("pageToken"))
    project = request.params["project"]
    result: JsonObject = {
        "kind": kind,
        "id": f"projects/{project}/{path}",
        "selfLink": f"{project_url(project)}/{path}",
    }
    if chosen:
        result["items"] = [body for _key, body in chosen]
    if token:
        result["nextPageToken"] = token
    return result


def list_networks(world: World, request: ApiRequest) -> JsonObject:
    p = request.params["project"]
    require_project(world, p)
    regions = _regions(world, p)
    rows = [(n.name, network_json(n, regions)) for (np, _), n in world.networks.items() if np == p]
    return _listing(world, request, "compute#networkList", "global/networks", rows)


def list_firewalls(world: World, request: ApiRequest) -> JsonObject:
    p = request.params["project"]
    require_project(world, p)
    rows = [(f.name, firewall_json(f)) for (fp, _), f in world.firewalls.items() if fp == p]
    return _listing(world, request, "compute#firewallList", "global/firewalls", rows)


def get_firewall(world: World, request: ApiRequest) -> JsonObject:
    p, name = request.params["project"], request.params["firewall"]
    require_project(world, p)
    rule = world.firewalls.get((p, name))
    if rule is None:
        raise compute_not_found(f"projects/{p}/global/firewalls/{name}")
    return firewall_json(rule)


def _strings(body: JsonObject, field: str) -> list[str]:
    value = body.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise compute_invalid(
            f"Invalid value for field 'resource.{field}': must be a list of strings."
        )
    return list(value)


def _ranges(body: JsonObject, field: str) -> list[str]:
    ranges = _strings(body, field)
    for index, text in enumerate(ranges):
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise compute_invalid(
                f"Invalid value for field 'resource.{field}[{index}]': '{text}'. "
                "Must be a CIDR address range that is contained in the network."
            ) from None
    return ranges


def _rules(body: JsonObject, field: str) -> list[dict[str, object]]:
    value = body.get(field) or []
    if not isinstance(value, list):
        raise compute_invalid(f"Invalid value for field 'resource.{field}': must be a list.")
    rules: list[dict[str, object]] = []
    for index, item in enumerate(value):
        protocol = item.get("IPProtocol") if isinstance(item, dict) else None
        if not isinstance(protocol, str) or (
            protocol.lower() not in _PROTOCOLS and not protocol.isdigit()
        ):
            raise compute_invalid(
                f"Invalid value for field 'resource.{field}[{index}].IPProtocol': '{protocol}'. "
                "Invalid IP protocol specification."
            )
        rule: dict[str, object] = {"IPProtocol": protocol}
        ports = item.get("ports") or []
        if ports:
            if protocol.lower() not in ("tcp", "udp", "sctp", "all"):
                raise compute_invalid(
                    f"Invalid value for field 'resource.{field}[{index}].ports': "
                    "ports are only allowed for tcp, udp and sctp."
                )
            rule["ports"] = [str(port) for port in ports]
        rules.append(rule)
    return rules


def _network_name(world: World, project: str, body: JsonObject) -> str:
    reference = body.get("network") or "global/networks/default"
    match = _NETWORK_REF.fullmatch(str(reference))
    if match is None:
        raise compute_invalid(f"Invalid value for field 'resource.network': '{reference}'.")
    owner, name = match.group("project") or project, match.group("name")
    if owner != project or (project, name) not in world.networks:
        raise compute_not_found(f"projects/{owner}/global/networks/{name}")
    return name


def _int_field(body: JsonObject, field: str, default: int, low: int, high: int) -> int:
    raw: Any = body.get(field, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise compute_invalid(f"Invalid value for field 'resource.{field}': '{raw}'.") from None
    if not low <= value <= high:
        raise compute_invalid(
            f"Invalid value for field 'resource.{field}': '{raw}'. "
            f"Must be between {low} and {high}."
        )
    return value


def insert_firewall(world: World, request: ApiRequest) -> JsonObject:
    """``firewalls.insert``: validated now, created when its global operation is DONE."""
    p = request.params["project"]
    require_project(world, p)
    body = request.json()
    reject_unknown_fields(body, _FIREWALL_FIELDS, gke=False)
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise compute_invalid(
            f"Invalid value for field 'resource.name': '{name}'. "
            "Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
        )
    direction = body.get("direction", "INGRESS")
    if direction not in ("INGRESS", "EGRESS"):
        raise compute_invalid(f"Invalid value for field 'resource.direction': '{direction}'.")
    allowed, denied = _rules(body, "allowed"), _rules(body, "denied")
    if bool(allowed) == bool(denied):
        raise compute_invalid(
            "Invalid value for field 'resource': ''. Exactly one of 'allowed' or 'denied' "
            "must be specified."
        )
    source_tags = _strings(body, "sourceTags")
    source_accounts = _strings(body, "sourceServiceAccounts")
    source_ranges = _ranges(body, "sourceRanges")
    destination_ranges = _ranges(body, "destinationRanges")
    mixed = mixed_families({"sourceRanges": source_ranges, "destinationRanges": destination_ranges})
    if mixed is not None:
        field, index, text = mixed
        raise compute_invalid(
            f"Invalid value for field 'resource.{field}[{index}]': '{text}'. "
            "IPv4 and IPv6 ranges cannot be mixed in the same firewall rule."
        )
    if direction == "INGRESS" and not (source_ranges or source_tags or source_accounts):
        source_ranges = ["0.0.0.0/0"]
    if direction == "EGRESS" and not destination_ranges:
        destination_ranges = ["0.0.0.0/0"]
    rule = Firewall(
        project=p,
        name=name,
        id=world.new_id(),
        created=world.now(),
        network=_network_name(world, p, body),
        priority=_int_field(body, "priority", 1000, 0, 65535),
        direction=direction,
        source_ranges=source_ranges,
        destination_ranges=destination_ranges,
        source_tags=source_tags,
        allowed=allowed,
        denied=denied,
        target_tags=_strings(body, "targetTags"),
        target_service_accounts=_strings(body, "targetServiceAccounts"),
        disabled=bool(body.get("disabled", False)),
        description=str(body.get("description", "")),
    )
    key = (p, name)

    def start() -> ComputeOperation:
        if key in world.firewalls or ("firewall", p, name) in world.pending:
            raise compute_error(
                409,
                "alreadyExists",
                f"The resource 'projects/{p}/global/firewalls/{name}' already exists",
            )
        world.pending.add(("firewall", p, name))

        def done() -> None:
            world.pending.discard(("firewall", p, name))
            rule.created = world.now()
            world.firewalls[key] = rule

        def failed() -> None:
            world.pending.discard(("firewall", p, name))

        return world.start_compute_operation(
            project=p,
            zone=None,
            operation_type="insert",
            target_link=firewall_url(p, name),
            target_id=rule.id,
            method=request.method,
            on_done=done,
            on_error=failed,
        )

    return idempotent(world, p, request, start)


def delete_firewall(world: World, request: ApiRequest) -> JsonObject:
    """``firewalls.delete``: gone when its global operation is DONE."""
    p, name = request.params["project"], request.params["firewall"]
    require_project(world, p)
    rule = world.firewalls.get((p, name))
    if rule is None:
        raise compute_not_found(f"projects/{p}/global/firewalls/{name}")

    def start() -> ComputeOperation:
        marker = ("firewall-delete", p, name)
        if marker in world.pending:
            raise not_ready(f"projects/{p}/global/firewalls/{name}")
        world.pending.add(marker)

        def done() -> None:
            world.pending.discard(marker)
            world.firewalls.pop((p, name), None)

        def failed() -> None:
            world.pending.discard(marker)

        return world.start_compute_operation(
            project=p,
            zone=None,
            operation_type="delete",
            target_link=firewall_url(p, name),
            target_id=rule.id,
            method=request.method,
            on_done=done,
            on_error=failed,
        )

    return idempotent(world, p, request, start)


def get_group_manager(world: World, request: ApiRequest) -> JsonObject:
    """``instanceGroupManagers.get`` for the groups behind GKE node pools.

    Their ``targetSize`` is the only place the API shows a node pool's current size.
    """
    p, z, name = request.params["project"], request.params["zone"], request.params["manager"]
    require_zone(world, p, z)
    for (cp, _location, _name), cluster in world.clusters.items():
        if cp != p:
            continue
        for pool in cluster.node_pools:
            if z in pool.locations and group_manager_name(cluster, pool) == name:
                created = compute_timestamp(cluster.created)
                manager_id = int(pool.group_suffix, 16) * 1_000_003
                return group_manager_json(p, z, name, pool.node_count, created, manager_id)
    raise compute_not_found(f"projects/{p}/zones/{z}/instanceGroupManagers/{name}")
