"""The resource types the fake serves, described once: discovery, storage and behaviour.

One :class:`ResourceType` per resource (``namespaces``, ``deployments`` ...) says where it
lives (group/version, namespaced, its etcd-style key prefix), how discovery shows it
(kind, verbs, short names, categories, subresources), which lists a strategic merge patch
merges by key, which field selectors it accepts, and which defaulting and validation its
registry strategy applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reaper.sandbox.kube import kinds
from reaper.sandbox.kube.patches import PRIMITIVE_MERGE, PatchSchema
from reaper.sandbox.kube.validation import (
    NameCheck,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
)

JSON = dict[str, Any]
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``deployments/scale``."""

    name: str
    """``status``, ``scale`` or ``finalize``."""
    kind: str
    """The Kind it takes and returns (``Scale`` for scale)."""
    verbs: tuple[str, ...]
    """What discovery lists."""
    group: str = ""
    """Set when the kind lives in another group (``autoscaling`` for Scale)."""
    version: str = ""
    """Set together with ``group``."""


@dataclass(frozen=True)
class ResourceType:
    """Everything the fake knows about one resource."""

    plural: str
    """The resource name in URLs: ``deployments``."""
    singular: str
    """``deployment``."""
    kind: str
    """``Deployment``."""
    group: str
    """API group; empty for core."""
    version: str
    """API version within the group."""
    namespaced: bool
    """Whether objects live in a namespace."""
    key_prefix: str
    """The etcd key prefix the continue tokens are relative to."""
    name_check: NameCheck = dns1123_subdomain
    """The validation every object name gets."""
    short_names: tuple[str, ...] = ()
    """What ``kubectl get`` also accepts."""
    categories: tuple[str, ...] = ()
    """Discovery categories (``all``)."""
    verbs: tuple[str, ...] = ALL_VERBS
    """The verbs discovery lists for the collection."""
    subresources: tuple[Subresource, ...] = ()
    """Status, scale, finalize."""
    has_generation: bool = False
    """Whether ``metadata.generation`` starts at 1 and counts spec changes."""
    merge_keys: PatchSchema = field(default_factory=dict)
    """Strategic-merge list keys beyond the metadata ones."""
    field_labels: tuple[str, ...] = ("metadata.name", "metadata.namespace")
    """Field selectors the server accepts."""
    legacy_field_errors: bool = False
    """Core types say ``field label not supported: x``; others name the allowed ones."""
    defaults: kinds.Defaulter = kinds.no_defaults
    """The strategy's ``PrepareForCreate`` plus the type's defaulting."""
    validate: kinds.Validator = kinds.no_rules
    """The strategy's ``Validate`` beyond the metadata rules."""
    validate_update: kinds.UpdateValidator = kinds.no_update_rules
    """The strategy's ``ValidateUpdate`` extras (immutable fields)."""
    time_fields: tuple[tuple[str, ...], ...] = ()
    """``metav1.Time`` fields, re-rendered as the server stores them (whole seconds, Z)."""
    micro_time_fields: tuple[tuple[str, ...], ...] = ()
    """``metav1.MicroTime`` fields (six fraction digits, Z)."""

    @property
    def group_version(self) -> str:
        """``apps/v1``, or ``v1`` for core."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    def patch_schema(self) -> PatchSchema:
        """The merge keys a strategic merge patch uses for this type."""
        return {**_META_KEYS, **self.merge_keys}

    def field_values(self, obj: JSON) -> dict[str, str]:
        """What a field selector compares against (``GetAttrs``)."""
        meta = obj.get("metadata") or {}
        values = {
            "metadata.name": str(meta.get("name", "")),
            "metadata.namespace": str(meta.get("namespace", "")),
        }
        if self.plural == "namespaces":
            values["status.phase"] = str((obj.get("status") or {}).get("phase", ""))
        if self.plural == "services":
            spec = obj.get("spec") or {}
            values["spec.clusterIP"] = str(spec.get("clusterIP", ""))
            values["spec.type"] = str(spec.get("type", ""))
        return values

    def discovery(self) -> list[JSON]:
        """The ``APIResource`` entries for the resource and its subresources."""
        entry: JSON = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        for sub in self.subresources:
            sub_entry: JSON = {
                "name": f"{self.plural}/{sub.name}",
                "singularName": "",
                "namespaced": self.namespaced,
            }
            if sub.group:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            sub_entry["kind"] = sub.kind
            sub_entry["verbs"] = list(sub.verbs)
            entries.append(sub_entry)
        return entries


_META_KEYS: PatchSchema = {
    ("metadata", "finalizers"): PRIMITIVE_MERGE,
    ("metadata", "ownerReferences"): "uid",
}


def _pod_keys(*prefix: str) -> dict[tuple[str, ...], str]:
    keys: dict[tuple[str, ...], str] = {
        (*prefix, "volumes"): "name",
        (*prefix, "imagePullSecrets"): "name",
        (*prefix, "hostAliases"): "ip",
    }
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        keys[(*prefix, containers)] = "name"
        keys[(*prefix, containers, "ports")] = "containerPort"
        keys[(*prefix, containers, "env")] = "name"
        keys[(*prefix, containers, "volumeMounts")] = "mountPath"
        keys[(*prefix, containers, "volumeDevices")] = "devicePath"
    return keys


_STATUS = Subresource("status", "", ("get", "patch", "update"))
_SCALE = ("get", "patch", "update")
_CONDITIONS: dict[tuple[str, ...], str] = {("status", "conditions"): "type"}


def _with_kind(sub: Subresource, kind: str) -> Subresource:
    return Subresource(sub.name, kind, sub.verbs, sub.group, sub.version)


NAMESPACES = ResourceType(
    "namespaces",
    "namespace",
    "Namespace",
    "",
    "v1",
    namespaced=False,
    key_prefix="/registry/namespaces/",
    name_check=dns1123_label,
    short_names=("ns",),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    subresources=(
        Subresource("finalize", "Namespace", ("update",)),
        _with_kind(_STATUS, "Namespace"),
    ),
    merge_keys=_CONDITIONS,
    field_labels=("metadata.name", "status.phase"),
    legacy_field_errors=True,
    defaults=kinds.default_namespace,
)
SERVICES = ResourceType(
    "services",
    "service",
    "Service",
    "",
    "v1",
    namespaced=True,
    key_prefix="/registry/services/specs/",
    name_check=dns1035_label,
    short_names=("svc",),
    categories=("all",),
    subresources=(_with_kind(_STATUS, "Service"),),
    merge_keys={**_CONDITIONS, ("spec", "ports"): "port"},
    field_labels=("metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"),
    legacy_field_errors=True,
    defaults=kinds.default_service,
    validate=kinds.validate_service,
)
DEPLOYMENTS = ResourceType(
    "deployments",
    "deployment",
    "Deployment",
    "apps",
    "v1",
    namespaced=True,
    key_prefix="/registry/deployments/",
    short_names=("deploy",),
    categories=("all",),
    subresources=(
        Subresource("scale", "Scale", _SCALE, "autoscaling", "v1"),
        _with_kind(_STATUS, "Deployment"),
    ),
    has_generation=True,
    merge_keys={**_pod_keys("spec", "template", "spec"), **_CONDITIONS},
    defaults=kinds.default_deployment,
    validate=kinds.validate_deployment,
    validate_update=kinds.validate_workload_update,
)
STATEFULSETS = ResourceType(
    "statefulsets",
    "statefulset",
    "StatefulSet",
    "apps",
    "v1",
    namespaced=True,
    key_prefix="/registry/statefulsets/",
    short_names=("sts",),
    categories=("all",),
    subresources=(
        Subresource("scale", "Scale", _SCALE, "autoscaling", "v1"),
        _with_kind(_STATUS, "StatefulSet"),
    ),
    has_generation=True,
    merge_keys={**_pod_keys("spec", "template", "spec"), **_CONDITIONS},
    defaults=kinds.default_statefulset,
    validate=kinds.validate_statefulset,
    validate_update=kinds.validate_workload_update,
)
CRONJOBS = ResourceType(
    "cronjobs",
    "cronjob",
    "CronJob",
    "batch",
    "v1",
    namespaced=True,
    key_prefix="/registry/cronjobs/",
    short_names=("cj",),
    categories=("all",),
    subresources=(_with_kind(_STATUS, "CronJob"),),
    has_generation=True,
    merge_keys=_pod_keys("spec", "jobTemplate", "spec", "template", "spec"),
    defaults=kinds.default_cronjob,
    validate=kinds.validate_cronjob,
    time_fields=(("status", "lastScheduleTime"), ("status", "lastSuccessfulTime")),
)
NETWORK_POLICIES = ResourceType(
    "networkpolicies",
    "networkpolicy",
    "NetworkPolicy",
    "networking.k8s.io",
    "v1",
    namespaced=True,
    key_prefix="/registry/networkpolicies/",
    short_names=("netpol",),
    has_generation=True,
    defaults=kinds.default_network_policy,
    validate=kinds.validate_network_policy,
)
LEASES = ResourceType(
    "leases",
    "lease",
    "Lease",
    "coordination.k8s.io",
    "v1",
    namespaced=True,
    key_prefix="/registry/leases/",
    validate=kinds.validate_lease,
    micro_time_fields=(("spec", "acquireTime"), ("spec", "renewTime")),
)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES,
    SERVICES,
    DEPLOYMENTS,
    STATEFULSETS,
    CRONJOBS,
    NETWORK_POLICIES,
    LEASES,
)
BY_PLURAL: Mapping[str, ResourceType] = {rt.plural: rt for rt in RESOURCE_TYPES}


def lookup(group_version: str, plural: str) -> ResourceType | None:
    """The type served at ``/api(s)/<group_version>/<plural>``, if any. Pure."""
    found = BY_PLURAL.get(plural)
    if found is None or found.group_version != group_version:
        return None
    return found


def resource_type(plural: str) -> ResourceType:
    """The type named ``plural``; a wrong name lists the valid ones. Pure."""
    try:
        return BY_PLURAL[plural]
    except KeyError:
        valid = ", ".join(sorted(BY_PLURAL))
        raise KeyError(f"unknown resource {plural!r} (valid: {valid})") from None


def group_versions() -> list[str]:
    """Every group/version served, core first, in first-seen order. Pure."""
    seen: dict[str, None] = {}
    for rt in RESOURCE_TYPES:
        seen.setdefault(rt.group_version, None)
    return list(seen)
