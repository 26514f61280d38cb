"""Compute Engine v1 resources as the service writes them.

Field names, kinds and URL forms follow the API reference and recorded responses
(apache/libcloud's GCE fixtures): ids and 64-bit sizes are strings, links are full
``https://www.googleapis.com/compute/v1/...`` URLs, empty lists and maps are left out,
and an unlabelled resource still carries a ``labelFingerprint``.
"""

from __future__ import annotations

from typing import Any

from reaper.sandbox.gcp.model import (
    ComputeOperation,
    Disk,
    Firewall,
    Image,
    Instance,
    Network,
)
from reaper.sandbox.gcp.timefmt import compute_timestamp
from reaper.sandbox.gcp.world import region_of

JsonObject = dict[str, Any]
BASE = "https://www.googleapis.com/compute/v1"
SANDBOX_USER = "reaper-sandbox@reaper-sandbox.iam.gserviceaccount.com"
_HTTP_PHRASES = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


def project_url(project: str) -> str:
    return f"{BASE}/projects/{project}"


def zone_url(project: str, zone: str) -> str:
    return f"{project_url(project)}/zones/{zone}"


def instance_url(project: str, zone: str, name: str) -> str:
    return f"{zone_url(project, zone)}/instances/{name}"


def disk_url(project: str, zone: str, name: str) -> str:
    return f"{zone_url(project, zone)}/disks/{name}"


def image_url(project: str, name: str) -> str:
    return f"{project_url(project)}/global/images/{name}"


def network_url(project: str, name: str) -> str:
    return f"{project_url(project)}/global/networks/{name}"


def firewall_url(project: str, name: str) -> str:
    return f"{project_url(project)}/global/firewalls/{name}"


def group_manager_url(project: str, zone: str, name: str) -> str:
    return f"{zone_url(project, zone)}/instanceGroupManagers/{name}"


def _labels(target: JsonObject, labels: dict[str, str], fingerprint: str) -> None:
    if labels:
        target["labels"] = dict(labels)
    target["labelFingerprint"] = fingerprint


def instance_json(instance: Instance) -> JsonObject:
    """``compute#instance``. Pure."""
    p, z = instance.project, instance.zone
    region = region_of(z)
    interfaces = []
    for nic in instance.network_interfaces:
        item: JsonObject = {
            "kind": "compute#networkInterface",
            "network": network_url(p, nic.network),
            "subnetwork": f"{project_url(p)}/regions/{region}/subnetworks/{nic.network}",
            "networkIP": nic.network_ip,
            "name": nic.name,
            "stackType": "IPV4_ONLY" if nic.external_ipv6 is None else "IPV4_IPV6",
        }
        if nic.nat_ip is not None:
            item["accessConfigs"] = [
                {
                    "kind": "compute#accessConfig",
                    "type": "ONE_TO_ONE_NAT",
                    "name": "External NAT",
                    "natIP": nic.nat_ip,
                    "networkTier": "PREMIUM",
                }
            ]
        if nic.external_ipv6 is not None:
            item["ipv6AccessType"] = "EXTERNAL"
            item["ipv6AccessConfigs"] = [
                {
                    "kind": "compute#accessConfig",
                    "type": "DIRECT_IPV6",
                    "name": "external-ipv6",
                    "externalIpv6": nic.external_ipv6,
                    "externalIpv6PrefixLength": 96,
                    "networkTier": "PREMIUM",
                }
            ]
        interfaces.append(item)
    body: JsonObject = {
        "kind": "compute#instance",
        "id": str(instance.id),
        "creationTimestamp": compute_timestamp(instance.created),
        "name": instance.name,
        "tags": {"fingerprint": instance.tags_fingerprint},
        "machineType": f"{zone_url(p, z)}/machineTypes/{instance.machine_type}",
        "status": instance.status,
        "zone": zone_url(p, z),
        "canIpForward": False,
        "networkInterfaces": interfaces,
        "disks": [
            {
                "kind": "compute#attachedDisk",
                "type": "PERSISTENT",
                "mode": "READ_WRITE",
                "source": disk_url(p, z, disk.disk),
                "deviceName": disk.disk if disk.boot else f"persistent-disk-{disk.index}",
                "index": disk.index,
                "boot": disk.boot,
                "autoDelete": disk.auto_delete,
                "interface": "SCSI",
            }
            for disk in instance.disks
        ],
        "metadata": {"kind": "compute#metadata", "fingerprint": instance.metadata_fingerprint},
        "selfLink": instance_url(p, z, instance.name),
        "scheduling": {
            "onHostMaintenance": "MIGRATE",
            "automaticRestart": True,
            "preemptible": False,
            "provisioningModel": "STANDARD",
        },
        "deletionProtection": instance.deletion_protection,
        "startRestricted": False,
    }
    if instance.description:
        body["description"] = instance.description
    if instance.tags:
        body["tags"]["items"] = list(instance.tags)
    if instance.metadata:
        body["metadata"]["items"] = [{"key": k, "value": v} for k, v in instance.metadata]
    if instance.service_accounts:
        body["serviceAccounts"] = [
            {"email": sa.email, "scopes": list(sa.scopes)} for sa in instance.service_accounts
        ]
    if instance.status == "RUNNING":
        body["cpuPlatform"] = "Intel Broadwell"
    if instance.last_start is not None:
        body["lastStartTimestamp"] = compute_timestamp(instance.last_start)
    if instance.last_stop is not None:
        body["lastStopTimestamp"] = compute_timestamp(instance.last_stop)
    _labels(body, instance.labels, instance.label_fingerprint)
    return body


def disk_json(disk: Disk, source_image_id: int | None) -> JsonObject:
    """``compute#disk``; ``source_image_id`` is the image's id if it still exists. Pure."""
    body: JsonObject = {
        "kind": "compute#disk",
        "id": str(disk.id),
        "creationTimestamp": compute_timestamp(disk.created),
        "name": disk.name,
        "sizeGb": str(disk.size_gb),
        "zone": zone_url(disk.project, disk.zone),
        "status": "READY",
        "selfLink": disk_url(disk.project, disk.zone, disk.name),
        "type": f"{zone_url(disk.project, disk.zone)}/diskTypes/{disk.disk_type}",
        "physicalBlockSizeBytes": "4096",
    }
    if disk.source_image is not None:
        body["sourceImage"] = disk.source_image
        if source_image_id is not None:
            body["sourceImageId"] = str(source_image_id)
    if disk.users:
        body["users"] = list(disk.users)
    _labels(body, disk.labels, disk.label_fingerprint)
    return body


def image_json(image: Image) -> JsonObject:
    """``compute#image``, with ``deprecated`` when it is no longer current. Pure."""
    body: JsonObject = {
        "kind": "compute#image",
        "id": str(image.id),
        "creationTimestamp": compute_timestamp(image.created),
        "name": image.name,
        "sourceType": "RAW",
        "status": "READY",
        "archiveSizeBytes": str(image.disk_size_gb * 98_000_000),
        "diskSizeGb": str(image.disk_size_gb),
        "selfLink": image_url(image.project, image.name),
        "architecture": "X86_64",
    }
    if image.family is not None:
        body["family"] = image.family
    if image.deprecation_state is not None:
        deprecated: JsonObject = {"state": image.deprecation_state}
        if image.replacement is not None:
            deprecated["replacement"] = image.replacement
        body["deprecated"] = deprecated
    _labels(body, image.labels, image.label_fingerprint)
    return body


def network_json(network: Network, regions: list[str]) -> JsonObject:
    """``compute#network``; auto-mode networks list one subnetwork per region. Pure."""
    body: JsonObject = {
        "kind": "compute#network",
        "id": str(network.id),
        "creationTimestamp": compute_timestamp(network.created),
        "name": network.name,
        "selfLink": network_url(network.project, network.name),
        "autoCreateSubnetworks": network.auto_create_subnetworks,
        "routingConfig": {"routingMode": "REGIONAL"},
        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
    }
    if network.auto_create_subnetworks:
        body["subnetworks"] = [
            f"{project_url(network.project)}/regions/{region}/subnetworks/{network.name}"
            for region in regions
        ]
    return body


def firewall_json(rule: Firewall) -> JsonObject:
    """``compute#firewall``. Pure."""
    body: JsonObject = {
        "kind": "compute#firewall",
        "id": str(rule.id),
        "creationTimestamp": compute_timestamp(rule.created),
        "name": rule.name,
        "network": network_url(rule.project, rule.network),
        "priority": rule.priority,
        "direction": rule.direction,
        "logConfig": {"enable": False},
        "disabled": rule.disabled,
        "selfLink": firewall_url(rule.project, rule.name),
    }
    optional: dict[str, object] = {
        "description": rule.description,
        "sourceRanges": list(rule.source_ranges),
        "destinationRanges": list(rule.destination_ranges),
        "sourceTags": list(rule.source_tags),
        "targetTags": list(rule.target_tags),
        "targetServiceAccounts": list(rule.target_service_accounts),
        "allowed": [dict(item) for item in rule.allowed],
        "denied": [dict(item) for item in rule.denied],
    }
    body.update({key: value for key, value in optional.items() if value})
    return body


def operation_json(op: ComputeOperation) -> JsonObject:
    """``compute#operation``, zonal or global, with ``error`` once it has failed. Pure."""
    scope = project_url(op.project) + (f"/zones/{op.zone}" if op.zone else "/global")
    body: JsonObject = {
        "kind": "compute#operation",
        "id": str(op.id),
        "name": op.name,
        "operationType": op.operation_type,
        "targetLink": op.target_link,
        "targetId": str(op.target_id),
        "status": op.status,
        "user": SANDBOX_USER,
        "progress": op.progress,
        "insertTime": compute_timestamp(op.inserted),
        "selfLink": f"{scope}/operations/{op.name}",
    }
    if op.zone is not None:
        body["zone"] = zone_url(op.project, op.zone)
    if op.started is not None:
        body["startTime"] = compute_timestamp(op.started)
    if op.ended is not None:
        body["endTime"] = compute_timestamp(op.ended)
    if op.error is not None:
        error = op.error
        body["error"] = {"errors": [{"code": error.code, "message": error.message}]}
        body["httpErrorStatusCode"] = error.http_status
        body["httpErrorMessage"] = _HTTP_PHRASES.get(error.http_status, "ERROR")
    return body


def group_manager_json(
    project: str, zone: str, name: str, target_size: int, created: str, manager_id: int
) -> JsonObject:
    """``compute#instanceGroupManager`` of a GKE node pool in one zone. Pure."""
    return {
        "kind": "compute#instanceGroupManager",
        "id": str(manager_id),
        "creationTimestamp": created,
        "name": name,
        "zone": zone_url(project, zone),
        "instanceTemplate": f"{project_url(project)}/global/instanceTemplates/{name[:-4]}",
        "instanceGroup": f"{zone_url(project, zone)}/instanceGroups/{name}",
        "baseInstanceName": name[:-4],
        "fingerprint": "5bKcxzAnGOg=",
        "currentActions": {
            "none": target_size,
            "creating": 0,
            "recreating": 0,
            "deleting": 0,
            "abandoning": 0,
            "restarting": 0,
            "refreshing": 0,
        },
        "targetSize": target_size,
        "status": {"isStable": True},
        "selfLink": group_manager_url(project, zone, name),
    }
