"""The ``scale`` subresource of Deployments and StatefulSets (``autoscaling/v1`` Scale).

A Scale shows the parent's ``spec.replicas``, ``status.replicas`` and label selector (as a
string); writing one changes only the parent's ``spec.replicas``, with the parent's
resourceVersion as its optimistic lock, so a stale PUT gets the parent's 409 Conflict
(``deployments.apps "web": the object has been modified ...``).
"""

from __future__ import annotations

import copy
from typing import Any

from reaper.sandbox.kube import errors
from reaper.sandbox.kube.errors import invalid
from reaper.sandbox.kube.kinds import selector_string
from reaper.sandbox.kube.registry import Registry
from reaper.sandbox.kube.resources import ResourceType

JSON = dict[str, Any]


def _scale_of(obj: JSON) -> JSON:
    """The Scale view of a workload. Pure."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": selector_string(spec.get("selector")),
        },
    }


class Scaler:
    """Reads and writes the ``scale`` subresource through a :class:`Registry`."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """GET ``.../scale``: the ``autoscaling/v1`` Scale of a Deployment or StatefulSet."""
        return _scale_of(self._registry.get(rt, namespace, name))

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Any, *, dry_run: bool = False
    ) -> JSON:
        """PUT ``.../scale``: conflicts on a stale resourceVersion like the parent would."""
        scale = self._registry.decode(rt, body, kind="Scale", api_version="autoscaling/v1")
        if scale["metadata"].get("name") not in (None, name):
            raise errors.bad_request(
                f"the name of the object ({scale['metadata'].get('name')}) does not match "
                f"the name on the URL ({name})"
            )
        with self._registry.store.lock:
            old = self._registry.get(rt, namespace, name)
            return self._scale_to(rt, old, scale, dry_run=dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        *,
        dry_run: bool = False,
    ) -> JSON:
        """PATCH ``.../scale``."""
        with self._registry.store.lock:
            old = self._registry.get(rt, namespace, name)
            patched = self._registry.apply_patch(rt, _scale_of(old), content_type, raw)
            scale = self._registry.decode(rt, patched, kind="Scale", api_version="autoscaling/v1")
            return self._scale_to(rt, old, scale, dry_run=dry_run)

    def _scale_to(self, rt: ResourceType, old: JSON, scale: JSON, *, dry_run: bool) -> JSON:
        wanted = scale["metadata"].get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, old["metadata"]["name"])
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid_object(
                "Scale",
                "autoscaling",
                old["metadata"]["name"],
                [invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            )
        new = copy.deepcopy(old)
        new.setdefault("spec", {})["replicas"] = replicas
        new["metadata"]["resourceVersion"] = ""
        return _scale_of(self._registry.commit(rt, old, new, dry_run=dry_run))
