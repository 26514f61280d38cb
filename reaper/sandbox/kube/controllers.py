"""The control loops a cluster runs, one deterministic pass at a time.

:meth:`Controllers.step` does what kube-controller-manager would do next:

* the namespace controller (``pkg/controller/namespace/deletion``): for each namespace with a
  ``deletionTimestamp`` it deletes the content (objects with finalizers only get their own
  ``deletionTimestamp``), records the five deletion conditions with the real types, reasons
  and messages, and once nothing remains removes the ``kubernetes`` finalizer from
  ``spec.finalizers``, at which point the namespace is gone. A broken aggregated API makes
  discovery fail: the content it can see still goes, but the namespace stays Terminating
  with ``NamespaceDeletionDiscoveryFailure``;
* the garbage collector's part: ``orphan`` and ``foregroundDeletion`` finalizers are removed
  (the fake keeps no dependents);
* the deployment and statefulset controllers: ``status`` catches up with ``spec.replicas``;
* a cloud load-balancer controller: LoadBalancer services get an ingress address.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from reaper.sandbox.kube.clock import Clock, format_time
from reaper.sandbox.kube.deletion import FOREGROUND_FINALIZER, ORPHAN_FINALIZER
from reaper.sandbox.kube.registry import Registry, deleting
from reaper.sandbox.kube.resources import (
    DEPLOYMENTS,
    NAMESPACES,
    RESOURCE_TYPES,
    SERVICES,
    STATEFULSETS,
    ResourceType,
)

JSON = dict[str, Any]

_CONDITION_TYPES = (
    "NamespaceDeletionDiscoveryFailure",
    "NamespaceDeletionGroupVersionParsingFailure",
    "NamespaceDeletionContentFailure",
    "NamespaceContentRemaining",
    "NamespaceFinalizersRemaining",
)
_OK = {
    "NamespaceDeletionDiscoveryFailure": (
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    "NamespaceDeletionGroupVersionParsingFailure": (
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    "NamespaceDeletionContentFailure": (
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentRemoved", "All content successfully removed"),
}
_GC_FINALIZERS = (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)
_LB_NETWORK = "203.0.113."


class Controllers:
    """The fake's control plane; call :meth:`step` to run one pass of every loop."""

    def __init__(
        self, registry: Registry, clock: Clock, broken_groups: Callable[[], Collection[str]]
    ) -> None:
        self._registry = registry
        self._store = registry.store
        self._clock = clock
        self._broken_groups = broken_groups
        self._next_lb = 10

    def step(self) -> None:
        """One pass of each controller, under the store's lock."""
        with self._store.lock:
            self._collect_garbage()
            self.step_status()
            for namespace in self._store.objects(NAMESPACES):
                if deleting(namespace):
                    self._delete_namespace(namespace)

    def step_status(self) -> None:
        """Only the status loops: workloads catch up, load balancers get addresses."""
        with self._store.lock:
            self._sync_workloads()
            self._sync_load_balancers()

    def step_status_of(self, rt: ResourceType, namespace: str, name: str) -> None:
        """The status loops for one object only (seeding: the rest is caught up already)."""
        with self._store.lock:
            obj = self._store.get(rt, namespace, name)
            if obj is None:
                return
            if rt is DEPLOYMENTS:
                self._sync_deployment(obj)
            elif rt is STATEFULSETS:
                self._sync_statefulset(obj)
            elif rt is SERVICES:
                self._sync_load_balancer(obj)

    # -- garbage collector -------------------------------------------------------------------

    def _collect_garbage(self) -> None:
        for rt in RESOURCE_TYPES:
            for obj in self._store.objects(rt):
                finalizers = obj["metadata"].get("finalizers") or []
                if not deleting(obj) or not any(f in _GC_FINALIZERS for f in finalizers):
                    continue
                kept = [f for f in finalizers if f not in _GC_FINALIZERS]
                self._set_finalizers(rt, obj, kept)

    def _set_finalizers(self, rt: ResourceType, obj: JSON, finalizers: list[str]) -> None:
        meta = obj["metadata"]
        if finalizers:
            meta["finalizers"] = finalizers
        else:
            meta.pop("finalizers", None)
        spec_finalizers = (obj.get("spec") or {}).get("finalizers") if rt is NAMESPACES else None
        if not finalizers and not spec_finalizers:
            self._registry.remove(rt, meta.get("namespace", ""), meta["name"])
        else:
            self._registry.write(rt, obj)

    # -- workloads ---------------------------------------------------------------------------

    def _sync_workloads(self) -> None:
        for obj in self._store.objects(DEPLOYMENTS):
            self._sync_deployment(obj)
        for obj in self._store.objects(STATEFULSETS):
            self._sync_statefulset(obj)

    def _sync_deployment(self, obj: JSON) -> None:
        replicas = int((obj.get("spec") or {}).get("replicas", 0))
        status: JSON = {"observedGeneration": obj["metadata"].get("generation", 1)}
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"):
            if replicas:
                status[key] = replicas
        status["conditions"] = self._keep_times(
            (obj.get("status") or {}).get("conditions") or [],
            [
                {
                    "type": "Available",
                    "status": "True",
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                }
            ],
            with_update_time=True,
        )
        self._set_status(DEPLOYMENTS, obj, status)

    def _sync_statefulset(self, obj: JSON) -> None:
        replicas = int((obj.get("spec") or {}).get("replicas", 0))
        status = {
            "observedGeneration": obj["metadata"].get("generation", 1),
            "replicas": replicas,
        }
        for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if replicas:
                status[key] = replicas
        status["availableReplicas"] = replicas
        status["collisionCount"] = 0
        self._set_status(STATEFULSETS, obj, status)

    def _set_status(self, rt: ResourceType, obj: JSON, status: JSON) -> None:
        if obj.get("status") == status:
            return
        obj["status"] = status
        self._registry.write(rt, obj)

    def _keep_times(
        self, old: list[JSON], new: list[JSON], *, with_update_time: bool = False
    ) -> list[JSON]:
        """Conditions with ``lastTransitionTime`` kept unless the status flipped."""
        now = format_time(self._clock.now())
        by_type = {c.get("type"): c for c in old}
        out = []
        for condition in new:
            previous = by_type.get(condition["type"])
            stamped = {"type": condition["type"], "status": condition["status"]}
            if with_update_time:
                stamped["lastUpdateTime"] = previous.get("lastUpdateTime", now) if previous else now
            if previous is not None and previous.get("status") == condition["status"]:
                stamped["lastTransitionTime"] = previous.get("lastTransitionTime", now)
            else:
                stamped["lastTransitionTime"] = now
            stamped.update({k: v for k, v in condition.items() if k not in stamped})
            out.append(stamped)
        return out

    def _sync_load_balancers(self) -> None:
        for obj in self._store.objects(SERVICES):
            self._sync_load_balancer(obj)

    def _sync_load_balancer(self, obj: JSON) -> None:
        spec = obj.get("spec") or {}
        balancer = (obj.get("status") or {}).get("loadBalancer") or {}
        if spec.get("type") != "LoadBalancer" or balancer.get("ingress") or deleting(obj):
            return
        self._next_lb += 1
        obj["status"] = {
            "loadBalancer": {"ingress": [{"ip": f"{_LB_NETWORK}{self._next_lb}", "ipMode": "VIP"}]}
        }
        self._registry.write(SERVICES, obj)

    # -- namespace deletion --------------------------------------------------------------------

    def _delete_namespace(self, namespace: JSON) -> None:
        name = namespace["metadata"]["name"]
        if (namespace.get("status") or {}).get("phase") != "Terminating":
            namespace.setdefault("status", {})["phase"] = "Terminating"
            namespace = self._registry.write(NAMESPACES, namespace)
        if not (namespace.get("spec") or {}).get("finalizers"):
            return
        problems: dict[str, tuple[str, str]] = {}
        broken = sorted(self._broken_groups())
        if broken:
            failures = ", ".join(
                f"{gv}: the server is currently unable to handle the request" for gv in broken
            )
            problems["NamespaceDeletionDiscoveryFailure"] = (
                "DiscoveryFailed",
                f"Discovery failed for some groups, {len(broken)} failing: "
                f"unable to retrieve the complete list of server APIs: {failures}",
            )
        remaining, stuck = self._delete_content(name)
        if remaining:
            listed = ", ".join(
                sorted(
                    f"{resource} has {count} resource instances"
                    for resource, count in remaining.items()
                )
            )
            problems["NamespaceContentRemaining"] = (
                "SomeResourcesRemain",
                f"Some resources are remaining: {listed}",
            )
        if stuck:
            listed = ", ".join(
                sorted(
                    f"{finalizer} in {count} resource instances"
                    for finalizer, count in stuck.items()
                )
            )
            problems["NamespaceFinalizersRemaining"] = (
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {listed}",
            )
        current = self._store.get(NAMESPACES, "", name)
        if current is None:
            return
        if self._update_conditions(current, problems):
            current = self._registry.write(NAMESPACES, current)
        if broken or remaining:
            return
        finalizers = [f for f in current["spec"].get("finalizers", []) if f != "kubernetes"]
        current["spec"]["finalizers"] = finalizers
        if not finalizers and not current["metadata"].get("finalizers"):
            self._registry.remove(NAMESPACES, "", name)
        else:
            self._registry.write(NAMESPACES, current)

    def _delete_content(self, namespace: str) -> tuple[Counter[str], Counter[str]]:
        """Delete what is in ``namespace``; count what is left, by resource and by finalizer."""
        remaining: Counter[str] = Counter()
        stuck: Counter[str] = Counter()
        hidden = {gv.rsplit("/", 1)[0] if "/" in gv else "" for gv in self._broken_groups()}
        for rt in RESOURCE_TYPES:
            if not rt.namespaced or rt.group in hidden:
                continue
            for obj in self._store.objects(rt, namespace):
                meta = obj["metadata"]
                finalizers = meta.get("finalizers") or []
                if not finalizers:
                    self._registry.remove(rt, namespace, meta["name"])
                    continue
                if not deleting(obj):
                    meta["deletionTimestamp"] = format_time(self._clock.now())
                    meta["deletionGracePeriodSeconds"] = 0
                    self._registry.write(rt, obj)
                remaining[f"{rt.plural}.{rt.group}"] += 1
                for finalizer in finalizers:
                    stuck[finalizer] += 1
        return remaining, stuck

    def _update_conditions(self, namespace: JSON, problems: dict[str, tuple[str, str]]) -> bool:
        """``updateConditions``: all five types, True with a reason when failing, else False."""
        status = namespace.setdefault("status", {})
        conditions: list[JSON] = copy.deepcopy(status.get("conditions") or [])
        now = format_time(self._clock.now())
        changed = False
        for kind in _CONDITION_TYPES:
            truth = "True" if kind in problems else "False"
            reason, message = problems.get(kind, _OK[kind])
            old = next((c for c in conditions if c.get("type") == kind), None)
            if old is None:
                conditions.append(
                    {
                        "type": kind,
                        "status": truth,
                        "lastTransitionTime": now,
                        "reason": reason,
                        "message": message,
                    }
                )
                changed = True
            elif (old.get("status"), old.get("reason"), old.get("message")) != (
                truth,
                reason,
                message,
            ):
                if old.get("status") != truth:
                    old["lastTransitionTime"] = now
                old.update(status=truth, reason=reason, message=message)
                changed = True
        status["conditions"] = conditions
        return changed
