"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` that ``kubectl get`` asks for.

Columns follow the API server's printers (``pkg/printers/internalversion/printers.go``) for
the priority-0 columns and a few wide ones; rows carry the object as
``PartialObjectMetadata`` unless the request says ``includeObject=Object`` or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from reaper.sandbox.kube.clock import human_duration, parse_time
from reaper.sandbox.kube.kinds import selector_string

JSON = dict[str, Any]
Row = Callable[[JSON, datetime], list[Any]]

_NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)


def _column(name: str, kind: str = "string", description: str = "", priority: int = 0) -> JSON:
    return {
        "name": name,
        "type": kind,
        "format": "name" if name == "Name" else "",
        "description": description,
        "priority": priority,
    }


_NAME = _column("Name", description=_NAME_DOC)
_AGE = _column("Age", description=_AGE_DOC)
_CONTAINERS = _column(
    "Containers", description="Names of each container in the template.", priority=1
)
_IMAGES = _column(
    "Images", description="Images referenced by each container in the template.", priority=1
)


def age(obj: JSON, now: datetime) -> str:
    """The Age cell: ``translateTimestampSince``. Pure."""
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    return human_duration(now - parse_time(stamp))


def _containers(template: Any) -> tuple[str, str]:
    containers = ((template or {}).get("spec") or {}).get("containers") or []
    names = ",".join(str(c.get("name", "")) for c in containers)
    images = ",".join(str(c.get("image", "")) for c in containers)
    return names, images


def _name(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _namespace_row(obj: JSON, now: datetime) -> list[Any]:
    return [_name(obj), (obj.get("status") or {}).get("phase", ""), age(obj, now)]


def _deployment_row(obj: JSON, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template"))
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(obj, now),
        names,
        images,
        selector_string(spec.get("selector")) or "<none>",
    ]


def _statefulset_row(obj: JSON, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template"))
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}"
    return [_name(obj), ready, age(obj, now), names, images]


def _cronjob_row(obj: JSON, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    job = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers(job.get("template"))
    last = status.get("lastScheduleTime")
    return [
        _name(obj),
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        "True" if spec.get("suspend") else "False",
        len(status.get("active") or []),
        human_duration(now - parse_time(last)) if last else "<none>",
        age(obj, now),
        names,
        images,
        selector_string(job.get("selector")) or "<none>",
    ]


def _service_row(obj: JSON, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    kind = spec.get("type", "ClusterIP")
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    external = [str(i.get("ip") or i.get("hostname")) for i in ingress] + list(
        spec.get("externalIPs") or []
    )
    if external:
        external_cell = ",".join(external)
    elif kind == "LoadBalancer":
        external_cell = "<pending>"
    elif kind == "ExternalName":
        external_cell = str(spec.get("externalName", ""))
    else:
        external_cell = "<none>"
    ports = []
    for port in spec.get("ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [
        _name(obj),
        kind,
        spec.get("clusterIP") or "<none>",
        external_cell,
        ",".join(ports) or "<none>",
        age(obj, now),
        selector or "<none>",
    ]


def _network_policy_row(obj: JSON, now: datetime) -> list[Any]:
    selector = selector_string((obj.get("spec") or {}).get("podSelector")) or "<none>"
    return [_name(obj), selector, age(obj, now)]


def _lease_row(obj: JSON, now: datetime) -> list[Any]:
    return [_name(obj), (obj.get("spec") or {}).get("holderIdentity", ""), age(obj, now)]


COLUMNS: dict[str, tuple[list[JSON], Row]] = {
    "namespaces": (
        [_NAME, _column("Status", description="The status of the namespace"), _AGE],
        _namespace_row,
    ),
    "deployments": (
        [
            _NAME,
            _column("Ready", description="Number of the pod with ready state"),
            _column(
                "Up-to-date",
                "integer",
                "Total number of non-terminated pods targeted by this deployment that have the "
                "desired template spec.",
            ),
            _column(
                "Available",
                "integer",
                "Total number of available pods (ready for at least minReadySeconds) targeted "
                "by this deployment.",
            ),
            _AGE,
            _CONTAINERS,
            _IMAGES,
            _column("Selector", description="Label selector for pods.", priority=1),
        ],
        _deployment_row,
    ),
    "statefulsets": (
        [
            _NAME,
            _column("Ready", description="Number of the pod with ready state"),
            _AGE,
            _CONTAINERS,
            _IMAGES,
        ],
        _statefulset_row,
    ),
    "cronjobs": (
        [
            _NAME,
            _column("Schedule", description="The schedule in Cron format."),
            _column("Timezone", description="The time zone name for the given schedule."),
            _column("Suspend", "boolean", "Whether to suspend subsequent executions."),
            _column("Active", "integer", "A list of pointers to currently running jobs."),
            _column(
                "Last Schedule",
                description=(
                    "Information when was the last time the job was successfully scheduled."
                ),
            ),
            _AGE,
            _CONTAINERS,
            _IMAGES,
            _column(
                "Selector",
                description="A label query over pods that should match the pod count.",
                priority=1,
            ),
        ],
        _cronjob_row,
    ),
    "services": (
        [
            _NAME,
            _column("Type", description="type determines how the Service is exposed."),
            _column("Cluster-IP", description="clusterIP is the IP address of the service."),
            _column(
                "External-IP",
                description=(
                    "externalIPs is a list of IP addresses for which nodes in the cluster will "
                    "also accept traffic for this service."
                ),
            ),
            _column("Port(s)", description="The list of ports that are exposed by this service."),
            _AGE,
            _column(
                "Selector",
                description=(
                    "Route service traffic to pods with label keys and values matching this "
                    "selector."
                ),
                priority=1,
            ),
        ],
        _service_row,
    ),
    "networkpolicies": (
        [
            _NAME,
            _column(
                "Pod-Selector",
                description="Selects the pods to which this NetworkPolicy object applies.",
            ),
            _AGE,
        ],
        _network_policy_row,
    ),
    "leases": (
        [
            _NAME,
            _column(
                "Holder",
                description=(
                    "holderIdentity contains the identity of the holder of a current lease."
                ),
            ),
            _AGE,
        ],
        _lease_row,
    ),
}


def table(resource: str, objects: list[JSON], list_meta: JSON, now: datetime, include: str) -> JSON:
    """The ``Table`` for ``objects`` of ``resource``; ``include`` is ``includeObject``. Pure."""
    columns, row = COLUMNS[resource]
    rows = []
    for obj in objects:
        entry: JSON = {"cells": row(obj, now)}
        if include == "Object":
            entry["object"] = obj
        elif include != "None":
            entry["object"] = partial_metadata(obj)
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }


def partial_metadata(obj: JSON) -> JSON:
    """The object as ``PartialObjectMetadata`` (metadata only). Pure."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }
