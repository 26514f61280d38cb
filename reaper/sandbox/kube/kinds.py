"""Per-kind defaulting and validation, a subset of the real registries' strategies.

Each ``default_*`` function fills what the API server's defaulting fills on write
(``SetDefaults_Deployment``, the Service IP and node-port allocators, ...) and each
``validate_*`` returns ``field.Error``s with the real paths and texts for the rules it
checks. Only the rules listed here are checked; see the package docstring for what is not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, Protocol

from reaper.sandbox.kube.errors import FieldError, forbidden, invalid, not_supported, required
from reaper.sandbox.kube.selectors import LabelSelector, Operator, Requirement
from reaper.sandbox.kube.validation import render_map

JSON = dict[str, Any]


class Allocator(Protocol):
    """Hands out the addresses a Service gets on create."""

    def cluster_ip(self) -> str:
        """The next free ClusterIP."""
        ...

    def node_port(self) -> int:
        """The next free node port (30000-32767)."""
        ...


Defaulter = Callable[[JSON, Allocator], None]
Validator = Callable[[JSON], list[FieldError]]
UpdateValidator = Callable[[JSON, JSON], list[FieldError]]


def no_defaults(obj: JSON, allocator: Allocator) -> None:
    """For kinds the server does not default."""


def no_rules(obj: JSON) -> list[FieldError]:
    """For kinds with no rules beyond the common metadata ones."""
    return []


def no_update_rules(new: JSON, old: JSON) -> list[FieldError]:
    """For kinds with no update-only rules."""
    return []


# -- pod templates -----------------------------------------------------------------------


def _default_pod_spec(spec: JSON, restart_policy: str) -> None:
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
        container.setdefault(
            "imagePullPolicy", "IfNotPresent" if tagged or "@" in image else "Always"
        )
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _default_template(template: Any, restart_policy: str) -> None:
    if not isinstance(template, dict):
        return
    template.setdefault("metadata", {})
    spec = template.setdefault("spec", {})
    if isinstance(spec, dict):
        _default_pod_spec(spec, restart_policy)


def _validate_pod_template(template: Any, path: str) -> list[FieldError]:
    if not isinstance(template, dict):
        return [required(path)]
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return [required(f"{path}.spec.containers")]
    containers = spec.get("containers")
    if not containers:
        return [required(f"{path}.spec.containers")]
    errors: list[FieldError] = []
    for index, container in enumerate(containers):
        where = f"{path}.spec.containers[{index}]"
        if not isinstance(container, dict) or not container.get("name"):
            errors.append(required(f"{where}.name"))
        if not isinstance(container, dict) or not container.get("image"):
            errors.append(required(f"{where}.image"))
    return errors


def selector_of(label_selector: Any) -> LabelSelector:
    """A ``metav1.LabelSelector`` object as a matcher (``LabelSelectorAsSelector``). Pure."""
    if not isinstance(label_selector, dict):
        return LabelSelector()
    requirements = [
        Requirement(str(k), Operator.EQUALS, (str(v),))
        for k, v in (label_selector.get("matchLabels") or {}).items()
    ]
    operators = {
        "In": Operator.IN,
        "NotIn": Operator.NOT_IN,
        "Exists": Operator.EXISTS,
        "DoesNotExist": Operator.DOES_NOT_EXIST,
    }
    for expression in label_selector.get("matchExpressions") or []:
        operator = operators.get(str(expression.get("operator")))
        if operator is not None:
            values = tuple(sorted(str(v) for v in expression.get("values") or []))
            requirements.append(Requirement(str(expression.get("key")), operator, values))
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


def selector_string(label_selector: Any) -> str:
    """``metav1.FormatLabelSelector`` without the ``<none>``: ``app=web,tier in (a,b)``."""
    parts = []
    for requirement in selector_of(label_selector).requirements:
        values = ",".join(requirement.values)
        match requirement.operator:
            case Operator.EQUALS:
                parts.append(f"{requirement.key}={values}")
            case Operator.IN:
                parts.append(f"{requirement.key} in ({values})")
            case Operator.NOT_IN:
                parts.append(f"{requirement.key} notin ({values})")
            case Operator.EXISTS:
                parts.append(requirement.key)
            case Operator.DOES_NOT_EXIST:
                parts.append(f"!{requirement.key}")
            case _:
                parts.append(f"{requirement.key}{requirement.operator.value}{values}")
    return ",".join(parts)


def _validate_workload(obj: JSON, kind: str) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template")
    if not isinstance(selector, dict):
        errors.append(required("spec.selector"))
    elif not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errors.append(
            invalid("spec.selector", selector, f"empty selector is invalid for {kind.lower()}")
        )
    else:
        labels = ((template or {}).get("metadata") or {}).get("labels") or {}
        if not selector_of(selector).matches(labels):
            errors.append(
                invalid(
                    "spec.template.metadata.labels",
                    render_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
    errors.extend(_validate_pod_template(template, "spec.template"))
    restart = ((template or {}).get("spec") or {}).get("restartPolicy")
    if restart not in (None, "Always"):
        errors.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    return errors


def _validate_selector_immutable(new: JSON, old: JSON) -> list[FieldError]:
    before = (old.get("spec") or {}).get("selector")
    after = (new.get("spec") or {}).get("selector")
    if before != after:
        return [invalid("spec.selector", after, "field is immutable")]
    return []


# -- namespaces ----------------------------------------------------------------------------


def default_namespace(obj: JSON, allocator: Allocator) -> None:
    """``PrepareForCreate``: Active, the ``kubernetes`` finalizer, the name label."""
    spec = obj.setdefault("spec", {})
    finalizers = spec.setdefault("finalizers", [])
    if "kubernetes" not in finalizers:
        finalizers.append("kubernetes")
    obj["status"] = {"phase": "Active"}


# -- apps/v1 -------------------------------------------------------------------------------


def default_deployment(obj: JSON, allocator: Allocator) -> None:
    """``SetDefaults_Deployment`` (and the pod template's)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(spec.get("template"), "Always")
    obj["status"] = {}


def validate_deployment(obj: JSON) -> list[FieldError]:
    """``ValidateDeployment`` (the rules above)."""
    return _validate_workload(obj, "Deployment")


def default_statefulset(obj: JSON, allocator: Allocator) -> None:
    """``SetDefaults_StatefulSet``."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    update = spec.setdefault("updateStrategy", {})
    update.setdefault("type", "RollingUpdate")
    if update["type"] == "RollingUpdate":
        update.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
    )
    _default_template(spec.get("template"), "Always")
    obj["status"] = {"replicas": 0, "availableReplicas": 0}


def validate_statefulset(obj: JSON) -> list[FieldError]:
    """``ValidateStatefulSet`` (the rules above)."""
    return _validate_workload(obj, "StatefulSet")


validate_workload_update: UpdateValidator = _validate_selector_immutable


# -- batch/v1 ------------------------------------------------------------------------------


def default_cronjob(obj: JSON, allocator: Allocator) -> None:
    """``SetDefaults_CronJob``."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    if isinstance(job, dict):
        _default_template(job.get("template"), "Always")
    obj["status"] = {}


def validate_cronjob(obj: JSON) -> list[FieldError]:
    """``ValidateCronJob``: a schedule, a 52-character name, a pod template that ends."""
    errors: list[FieldError] = []
    name = str((obj.get("metadata") or {}).get("name") or "")
    if len(name) > 52:
        errors.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    spec = obj.get("spec") or {}
    if not spec.get("schedule"):
        errors.append(required("spec.schedule"))
    policy = spec.get("concurrencyPolicy")
    if policy not in ("Allow", "Forbid", "Replace"):
        errors.append(
            not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"])
        )
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    errors.extend(_validate_pod_template(template, "spec.jobTemplate.spec.template"))
    restart = ((template or {}).get("spec") or {}).get("restartPolicy")
    if restart not in ("OnFailure", "Never"):
        errors.append(
            not_supported(
                "spec.jobTemplate.spec.template.spec.restartPolicy",
                restart,
                ["OnFailure", "Never"],
            )
        )
    return errors


# -- core/v1 services ----------------------------------------------------------------------

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def default_service(obj: JSON, allocator: Allocator) -> None:
    """Service defaulting and the ClusterIP / node-port allocators."""
    spec = obj.setdefault("spec", {})
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if kind in ("NodePort", "LoadBalancer") and not port.get("nodePort"):
                port["nodePort"] = allocator.node_port()
    if kind != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = allocator.cluster_ip()
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        if spec["clusterIP"] != "None":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    obj["status"] = {"loadBalancer": {}}


def validate_service(obj: JSON) -> list[FieldError]:
    """``ValidateService``: type, ports, ``loadBalancerSourceRanges``."""
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        errors.append(not_supported("spec.type", kind, SERVICE_TYPES))
    ports = spec.get("ports") or []
    if kind != "ExternalName" and spec.get("clusterIP") != "None" and not ports:
        errors.append(required("spec.ports"))
    for index, port in enumerate(ports):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                invalid(
                    f"spec.ports[{index}].port", number, "must be between 1 and 65535, inclusive"
                )
            )
    ranges = spec.get("loadBalancerSourceRanges")
    if ranges:
        if kind != "LoadBalancer":
            errors.append(
                forbidden(
                    "spec.loadBalancerSourceRanges",
                    "may only be used when `type` is 'LoadBalancer'",
                )
            )
        for index, cidr in enumerate(ranges):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                errors.append(
                    invalid(
                        f"spec.loadBalancerSourceRanges[{index}]",
                        cidr,
                        "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ",
                    )
                )
    return errors


# -- networking.k8s.io/v1 ------------------------------------------------------------------


def default_network_policy(obj: JSON, allocator: Allocator) -> None:
    """``PrepareForCreate``: ``policyTypes`` from the rules present."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def validate_network_policy(obj: JSON) -> list[FieldError]:
    """``ValidateNetworkPolicy``: policy types."""
    errors: list[FieldError] = []
    for index, kind in enumerate((obj.get("spec") or {}).get("policyTypes") or []):
        if kind not in ("Ingress", "Egress"):
            errors.append(not_supported(f"spec.policyTypes[{index}]", kind, ["Ingress", "Egress"]))
    return errors


# -- coordination.k8s.io/v1 ----------------------------------------------------------------


def validate_lease(obj: JSON) -> list[FieldError]:
    """``ValidateLease``: a positive duration, non-negative transitions."""
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        errors.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        errors.append(
            invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    return errors
