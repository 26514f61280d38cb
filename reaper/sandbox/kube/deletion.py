"""DELETE: graceful deletion by finalizers, propagation policies, the namespace lifecycle.

As the generic registry and the namespace storage do it: preconditions (uid,
resourceVersion) fail with 409; ``propagationPolicy`` Orphan / Foreground add the ``orphan``
/ ``foregroundDeletion`` finalizers; an object with finalizers gets ``deletionTimestamp`` and
``deletionGracePeriodSeconds: 0`` and stays until they are gone; a namespace turns
Terminating on the first DELETE and is only removed once ``spec.finalizers`` is empty
(the namespace controller's job); ``default``, ``kube-system`` and ``kube-public`` refuse.
Most kinds answer a successful delete with a ``Status``; namespaces and services with the
object.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reaper.sandbox.kube import errors
from reaper.sandbox.kube.clock import format_time
from reaper.sandbox.kube.registry import Registry, deleting, finalizers_of, ordered
from reaper.sandbox.kube.resources import NAMESPACES, ResourceType

JSON = dict[str, Any]
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def _delete_preconditions(rt: ResourceType, old: JSON, options: Mapping[str, Any]) -> None:
    """``preconditions`` (uid, resourceVersion) of a DELETE: 409 Conflict when they do not
    hold, worded as the API server words it. Namespaces: the namespace storage's own check
    (``Precondition failed: ...``, on ``namespaces``); every other kind:
    ``rest.BeforeDelete``'s (``the ... in the precondition (...) does not match the ... in
    record (...)``, on the Kind)."""
    preconditions = options.get("preconditions") or {}
    meta = old["metadata"]
    uid, version = preconditions.get("uid"), preconditions.get("resourceVersion")
    name, current_uid, current = meta["name"], meta["uid"], meta["resourceVersion"]
    if rt is NAMESPACES:
        if uid and uid != current_uid:
            why = (
                f"Precondition failed: UID in precondition: {uid}, "
                f"UID in object meta: {current_uid}"
            )
            raise errors.conflict(rt.plural, rt.group, name, why)
        if version and version != current:
            why = (
                f"Precondition failed: ResourceVersion in precondition: {version}, "
                f"ResourceVersion in object meta: {current}"
            )
            raise errors.conflict(rt.plural, rt.group, name, why)
        return
    if uid and uid != current_uid:
        why = (
            f"the UID in the precondition ({uid}) does not match the UID in record "
            f"({current_uid}). The object might have been deleted and then recreated"
        )
        raise errors.conflict(rt.kind, rt.group, name, why)
    if version and version != current:
        why = (
            f"the ResourceVersion in the precondition ({version}) does not match the "
            f"ResourceVersion in record ({current}). The object might have been modified"
        )
        raise errors.conflict(rt.kind, rt.group, name, why)


def _wanted_finalizers(options: Mapping[str, Any], current: list[str]) -> list[str]:
    orphan = options.get("orphanDependents")
    policy = options.get("propagationPolicy")
    result = list(current)

    def toggle(finalizer: str, wanted: bool | None) -> None:
        if wanted is None:
            return
        if wanted and finalizer not in result:
            result.append(finalizer)
        if not wanted and finalizer in result:
            result.remove(finalizer)

    if orphan is not None:
        toggle(ORPHAN_FINALIZER, bool(orphan))
        toggle(FOREGROUND_FINALIZER, not orphan)
    elif policy is not None:
        toggle(ORPHAN_FINALIZER, policy == "Orphan")
        toggle(FOREGROUND_FINALIZER, policy == "Foreground")
    return result


class Deleter:
    """Deletes through a :class:`Registry`."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: Mapping[str, Any]
    ) -> tuple[int, JSON]:
        """DELETE: the HTTP code and body (the object, or a success Status)."""
        dry_run = bool(options.get("dryRun"))
        with self._registry.store.lock:
            old = self._registry.get(rt, namespace, name)
            _delete_preconditions(rt, old, options)
            if rt is NAMESPACES:
                return self._delete_namespace(old, options, dry_run)
            return self._delete_object(rt, old, options, dry_run)

    def _delete_namespace(
        self, old: JSON, options: Mapping[str, Any], dry_run: bool
    ) -> tuple[int, JSON]:
        name = old["metadata"]["name"]
        if name in IMMORTAL_NAMESPACES:
            raise errors.forbidden_request(
                "namespaces", "", name, "this namespace may not be deleted"
            )
        if not deleting(old):
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = format_time(self._registry.clock.now())
            new.setdefault("status", {})["phase"] = "Terminating"
            finalizers = _wanted_finalizers(options, finalizers_of(old))
            if finalizers != finalizers_of(old):
                new["metadata"]["finalizers"] = finalizers
            new = ordered(new, "v1", "Namespace")
            return 200, new if dry_run else self._registry.store.write(NAMESPACES, new)
        if (old.get("spec") or {}).get("finalizers") or finalizers_of(old):
            return 200, old
        return 200, old if dry_run else self._registry.store.remove(NAMESPACES, "", name)

    def _delete_object(
        self, rt: ResourceType, old: JSON, options: Mapping[str, Any], dry_run: bool
    ) -> tuple[int, JSON]:
        meta = old["metadata"]
        finalizers = _wanted_finalizers(options, finalizers_of(old))
        accepted = 202 if options.get("orphanDependents") is False else 200
        if finalizers:
            new = copy.deepcopy(old)
            new["metadata"]["finalizers"] = finalizers
            if not deleting(old):
                new["metadata"]["deletionTimestamp"] = format_time(self._registry.clock.now())
                new["metadata"]["deletionGracePeriodSeconds"] = 0
            if new == old or dry_run:
                return accepted, ordered(new, rt.group_version, rt.kind)
            return accepted, self._registry.store.write(rt, ordered(new, rt.group_version, rt.kind))
        gone = (
            old
            if dry_run
            else self._registry.store.remove(rt, meta.get("namespace", ""), meta["name"])
        )
        if rt.plural == "services":
            return 200, gone
        details = {"name": meta["name"], "kind": rt.plural, "uid": meta["uid"]}
        if rt.group:
            details = {
                "name": meta["name"],
                "group": rt.group,
                "kind": rt.plural,
                "uid": meta["uid"],
            }
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        query: Mapping[str, str],
        options: Mapping[str, Any],
    ) -> JSON:
        """DELETE on a collection: every matching object, as a list of what was deleted."""
        with self._registry.store.lock:
            items, meta = self._registry.list_page(
                rt, namespace, {k: v for k, v in query.items() if k != "limit"}
            )
            deleted = []
            for item in items:
                item_meta = item["metadata"]
                _, body = self.delete(
                    rt, item_meta.get("namespace", ""), item_meta["name"], options
                )
                deleted.append(body if body.get("kind") != "Status" else item)
            return {
                "kind": rt.list_kind,
                "apiVersion": rt.group_version,
                "metadata": meta,
                "items": deleted,
            }
