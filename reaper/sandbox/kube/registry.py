"""The generic registry: reads, creates, updates and patches, as the API server does them.

It mirrors ``k8s.io/apiserver/pkg/registry/generic/registry.Store`` and the namespace
storage: system metadata on create (uid, creationTimestamp, generation), the
NamespaceLifecycle admission rules, optimistic concurrency on update, status reset on
main-resource writes, ``generation`` counting spec changes, no-op writes that keep their
resourceVersion, removal of a deleting object when an update takes its last finalizer, and
the ``status`` and ``finalize`` subresources. Deletion is :mod:`.deletion`, the ``scale``
subresource :mod:`.scale`.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reaper.sandbox.kube import errors, paging
from reaper.sandbox.kube.clock import Clock, format_micro_time, format_time, parse_time
from reaper.sandbox.kube.errors import ApiError, FieldError, invalid
from reaper.sandbox.kube.patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from reaper.sandbox.kube.resources import NAMESPACES, ResourceType
from reaper.sandbox.kube.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from reaper.sandbox.kube.store import Store
from reaper.sandbox.kube.validation import validate_object_meta

JSON = dict[str, Any]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)
_SYSTEM_META = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NODE_PORTS = range(30000, 32768)


def ordered(obj: JSON, api_version: str, kind: str) -> JSON:
    """``obj`` with the key order the server writes: kind, apiVersion, metadata, spec, ..."""
    meta = obj.get("metadata") or {}
    ordered_meta = {k: meta[k] for k in _META_ORDER if k in meta}
    ordered_meta.update({k: v for k, v in meta.items() if k not in ordered_meta})
    out: JSON = {"kind": kind, "apiVersion": api_version, "metadata": ordered_meta}
    for key in ("spec", "status"):
        if key in obj:
            out[key] = obj[key]
    out.update({k: v for k, v in obj.items() if k not in out})
    return out


def finalizers_of(obj: JSON) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or [])


def deleting(obj: JSON) -> bool:
    """Whether a delete was requested (``deletionTimestamp`` set). Pure."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _normalize_times(rt: ResourceType, obj: JSON) -> None:
    """Re-render time fields the way the server serializes them; 400 if one does not parse."""
    for fields, render in (
        (rt.time_fields, format_time),
        (rt.micro_time_fields, format_micro_time),
    ):
        for path in fields:
            parent: Any = obj
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if not isinstance(parent, dict) or parent.get(path[-1]) in (None, ""):
                continue
            value = parent[path[-1]]
            try:
                parent[path[-1]] = render(parse_time(str(value)))
            except ValueError:
                raise errors.bad_request(
                    f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse '
                    f'"{value}" as "2006"'
                ) from None


class Registry:
    """The write and read paths of every resource, over one :class:`Store`."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._next_ip = 1
        self._used_ports: set[int] = set()
        self._random = random.Random(0)

    # -- allocation (kinds.Allocator) ------------------------------------------------------

    def cluster_ip(self) -> str:
        """The next ClusterIP in 10.96.0.0/12 (10.96.0.1 is the kubernetes service's)."""
        self._next_ip += 1
        return f"10.96.{self._next_ip // 250}.{self._next_ip % 250 + 1}"

    def node_port(self) -> int:
        """The lowest free node port."""
        port = next(p for p in _NODE_PORTS if p not in self._used_ports)
        self._used_ports.add(port)
        return port

    # -- reads -------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """The object, or 404."""
        found = self.store.get(rt, namespace, name)
        if found is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return found

    def list_page(
        self, rt: ResourceType, namespace: str | None, query: Mapping[str, str]
    ) -> tuple[list[JSON], JSON]:
        """A (page of the) list: items and the ``ListMeta``; honours selectors and paging."""
        labels, fields = self._selectors(rt, query)
        limit = self._limit(query.get("limit"))
        token = query.get("continue") or ""
        with self.store.lock:
            revision, start = self.store.revision, ""
            snapshot: int | None = None
            if token:
                if query.get("resourceVersion"):
                    raise errors.bad_request(
                        "specifying resource version is not allowed when using continue"
                    )
                try:
                    decoded = paging.decode_token(token)
                except paging.TokenError as err:
                    raise errors.bad_request(f"invalid continue token: {err}") from None
                start = decoded.start
                if decoded.revision > 0 and (
                    self.store.take_forced_expiry(rt) or self.store.is_compacted(decoded.revision)
                ):
                    raise errors.expired(errors.CONTINUE_EXPIRED, paging.encode_token(-1, start))
                if decoded.revision > 0:
                    revision = snapshot = decoded.revision
            entries = self.store.entries(rt, namespace, snapshot, copies=False)

            def matches(obj: JSON) -> bool:
                meta = obj.get("metadata") or {}
                return labels.matches(meta.get("labels")) and fields.matches(rt.field_values(obj))

            chunk = paging.page(entries, start=start, limit=limit, matches=matches)
            items = [copy.deepcopy(item) for item in chunk.items]
            meta: JSON = {"resourceVersion": str(revision)}
            if chunk.next_start is not None:
                if snapshot is None:
                    self.store.keep_snapshot(rt)
                meta["continue"] = paging.encode_token(revision, chunk.next_start)
                if labels.empty and not fields.terms:
                    meta["remainingItemCount"] = chunk.remaining
            return items, meta

    @staticmethod
    def _limit(raw: str | None) -> int:
        if not raw:
            return 0
        try:
            limit = int(raw)
        except ValueError:
            raise errors.bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
        return max(limit, 0)

    @staticmethod
    def _selectors(
        rt: ResourceType, query: Mapping[str, str]
    ) -> tuple[LabelSelector, FieldSelector]:
        try:
            labels = parse_label_selector(query.get("labelSelector"))
            fields = parse_field_selector(query.get("fieldSelector"))
        except SelectorError as err:
            raise errors.bad_request(str(err)) from None
        for term in fields.terms:
            if term.field not in rt.field_labels:
                if rt.legacy_field_errors:
                    raise errors.bad_request(f"field label not supported: {term.field}")
                allowed = ", ".join(json.dumps(f) for f in rt.field_labels)
                raise errors.bad_request(
                    f"{json.dumps(term.field)} is not a known field selector: only {allowed}"
                )
        return labels, fields

    # -- create ------------------------------------------------------------------------------

    def decode(
        self,
        rt: ResourceType,
        body: Any,
        *,
        kind: str | None = None,
        api_version: str | None = None,
    ) -> JSON:
        kind = kind or rt.kind
        api_version = api_version or rt.group_version
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind})"
            )
        if body.get("apiVersion") not in (None, "", api_version):
            raise errors.bad_request(
                f"the API version in the data ({body['apiVersion']}) does not match the "
                f"expected API version ({api_version})"
            )
        if body.get("kind") not in (None, "", kind):
            raise errors.bad_request(
                f"the kind in the data ({body['kind']}) does not match the expected kind ({kind})"
            )
        meta = body.get("metadata")
        if meta is None:
            body = {**body, "metadata": {}}
        elif not isinstance(meta, dict):
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind})"
            )
        return ordered(copy.deepcopy(body), api_version, kind)

    def _check_namespace_field(self, rt: ResourceType, obj: JSON, namespace: str) -> None:
        meta = obj["metadata"]
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)

    def _admit_create(self, rt: ResourceType, namespace: str, name: str) -> None:
        """NamespaceLifecycle: the namespace must exist and must not be terminating."""
        if not rt.namespaced:
            return
        owner = self.store.get(NAMESPACES, "", namespace)
        if owner is None:
            raise errors.not_found("namespaces", "", namespace)
        if deleting(owner) or (owner.get("status") or {}).get("phase") == "Terminating":
            error = errors.forbidden_request(
                rt.plural,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )
            assert error.details is not None
            error.details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise error

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        *,
        dry_run: bool = False,
        created: datetime | None = None,
    ) -> JSON:
        """POST: a new object, 201. ``created`` overrides creationTimestamp (seeding only)."""
        obj = self.decode(rt, body)
        self._check_namespace_field(rt, obj, namespace)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        with self.store.lock:
            if not meta.get("name") and meta.get("generateName"):
                suffix = "".join(self._random.choice(_NAME_ALPHABET) for _ in range(5))
                meta["name"] = f"{meta['generateName']}{suffix}"
            name = str(meta.get("name") or "")
            self._admit_create(rt, namespace, name)
            for key in _SYSTEM_META:
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            if rt.has_generation:
                meta["generation"] = 1
            meta["creationTimestamp"] = format_time(created or self.clock.now())
            rt.defaults(obj, self)
            _normalize_times(rt, obj)
            if rt is NAMESPACES and name:
                meta.setdefault("labels", {})[NAMESPACE_NAME_LABEL] = name
            self._validate(rt, obj, None)
            if self.store.get(rt, namespace if rt.namespaced else "", name) is not None:
                raise errors.already_exists(rt.plural, rt.group, name)
            obj = ordered(obj, rt.group_version, rt.kind)
            if dry_run:
                return obj
            return self.store.write(rt, obj)

    def _validate(self, rt: ResourceType, obj: JSON, old: JSON | None) -> None:
        meta = obj["metadata"]
        problems: list[FieldError] = validate_object_meta(
            meta, check_name=rt.name_check, namespaced=rt.namespaced
        )
        problems.extend(rt.validate(obj))
        if old is not None:
            problems.extend(self._validate_meta_update(obj, old))
            problems.extend(rt.validate_update(obj, old))
        if problems:
            raise errors.invalid_object(rt.kind, rt.group, str(meta.get("name") or ""), problems)

    @staticmethod
    def _validate_meta_update(new: JSON, old: JSON) -> list[FieldError]:
        problems: list[FieldError] = []
        before, after = old["metadata"], new["metadata"]
        for key in ("name", "namespace", "uid"):
            if before.get(key, "") != after.get(key, ""):
                problems.append(
                    invalid(f"metadata.{key}", after.get(key, ""), "field is immutable")
                )
        if deleting(old):
            added = [f for f in finalizers_of(new) if f not in finalizers_of(old)]
            if added:
                problems.append(
                    errors.forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted, "
                        f"found new finalizers {json.dumps(added)}",
                    )
                )
        return problems

    # -- update ------------------------------------------------------------------------------

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Any, *, dry_run: bool = False
    ) -> JSON:
        """PUT on the object: optimistic concurrency on ``metadata.resourceVersion``."""
        new = self.decode(rt, body)
        self._check_url(rt, new, namespace, name)
        with self.store.lock:
            old = self.get(rt, namespace, name)
            self._precondition(rt, new, old)
            return self.commit(rt, old, new, dry_run=dry_run)

    def update_subresource(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        subresource: str,
        body: Any,
        *,
        dry_run: bool = False,
    ) -> JSON:
        """PUT on ``status`` or ``finalize``: only that part of the object changes."""
        new = self.decode(rt, body)
        self._check_url(rt, new, namespace, name)
        with self.store.lock:
            old = self.get(rt, namespace, name)
            self._precondition(rt, new, old)
            return self.commit(
                rt,
                old,
                self._splice(old, new, subresource),
                dry_run=dry_run,
                subresource=subresource,
            )

    @staticmethod
    def _splice(old: JSON, new: JSON, subresource: str) -> JSON:
        merged = copy.deepcopy(old)
        if subresource == "status":
            merged["status"] = copy.deepcopy(new.get("status") or {})
        elif subresource == "finalize":
            merged.setdefault("spec", {})["finalizers"] = list(
                (new.get("spec") or {}).get("finalizers") or []
            )
        merged["metadata"]["resourceVersion"] = new["metadata"].get("resourceVersion", "")
        return merged

    def _check_url(self, rt: ResourceType, obj: JSON, namespace: str, name: str) -> None:
        meta = obj["metadata"]
        if meta.get("name") != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on "
                f"the URL ({name})"
            )
        self._check_namespace_field(rt, obj, namespace)

    @staticmethod
    def _precondition(rt: ResourceType, new: JSON, old: JSON) -> None:
        wanted = new["metadata"].get("resourceVersion")
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, old["metadata"]["name"])

    def commit(
        self,
        rt: ResourceType,
        old: JSON,
        new: JSON,
        *,
        dry_run: bool = False,
        subresource: str = "",
    ) -> JSON:
        """The shared tail of update and patch (``BeforeUpdate`` and ``GuaranteedUpdate``)."""
        meta, before = new["metadata"], old["metadata"]
        if not meta.get("uid"):
            meta["uid"] = before["uid"]
        meta["creationTimestamp"] = before.get("creationTimestamp")
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if key in before:
                meta[key] = before[key]
            else:
                meta.pop(key, None)
        meta.pop("managedFields", None)
        if subresource == "" and ("status" in old or rt.subresource("status") is not None):
            new["status"] = copy.deepcopy(old.get("status", {}))
        if rt is NAMESPACES:
            if subresource != "finalize":
                new.setdefault("spec", {})["finalizers"] = (old.get("spec") or {}).get(
                    "finalizers", []
                )
            meta.setdefault("labels", {})[NAMESPACE_NAME_LABEL] = before["name"]
        _normalize_times(rt, new)
        if rt.has_generation and new.get("spec") != old.get("spec"):
            meta["generation"] = int(before.get("generation", 0)) + 1
        self._validate(rt, new, old)
        new = ordered(new, rt.group_version, rt.kind)
        comparable = copy.deepcopy(new)
        comparable["metadata"]["resourceVersion"] = before["resourceVersion"]
        if comparable == old:
            return old
        if dry_run:
            return new
        if (
            deleting(old)
            and not finalizers_of(new)
            and not (rt is NAMESPACES and (new.get("spec") or {}).get("finalizers"))
        ):
            self.store.remove(rt, before.get("namespace", ""), before["name"])
            new["metadata"]["resourceVersion"] = str(self.store.revision)
            return new
        return self.store.write(rt, new)

    # -- patch -------------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> JSON:
        """PATCH on the object or its ``status``."""
        with self.store.lock:
            old = self.get(rt, namespace, name)
            patched = self.apply_patch(rt, old, content_type, raw)
            new = self.decode(rt, patched)
            self._check_url(rt, new, namespace, name)
            self._precondition(rt, new, old)
            if subresource:
                new = self._splice(old, new, subresource)
            return self.commit(rt, old, new, dry_run=dry_run, subresource=subresource)

    @staticmethod
    def apply_patch(rt: ResourceType, current: JSON, content_type: str, raw: bytes) -> JSON:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in PATCH_TYPES:
            accepted = ", ".join((JSON_PATCH, MERGE_PATCH, APPLY_PATCH, STRATEGIC_MERGE_PATCH))
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {accepted}",
            )
        try:
            document = json.loads(raw or b"null")
        except ValueError as err:
            raise errors.bad_request(f"error decoding patch: {err}") from None
        try:
            if media == MERGE_PATCH:
                if not isinstance(document, dict):
                    raise errors.bad_request("error decoding patch: the patch is not a JSON object")
                result = merge_patch(current, document)
            elif media == STRATEGIC_MERGE_PATCH:
                result = strategic_merge_patch(current, document, rt.patch_schema())
            else:
                result = json_patch(current, document)
        except PatchError as err:
            if media == JSON_PATCH:
                raise ApiError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                    {},
                ) from None
            raise errors.bad_request(str(err)) from None
        if not isinstance(result, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        return result

    # -- used by the controllers and the Python controls -----------------------------------------

    def write(self, rt: ResourceType, obj: JSON) -> JSON:
        """Store a changed object as a controller would (no admission, no validation)."""
        return self.store.write(rt, ordered(obj, rt.group_version, rt.kind))

    def remove(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        """Delete outright (a controller's final step)."""
        return self.store.remove(rt, namespace, name)

    def mutate(
        self, rt: ResourceType, namespace: str, name: str, change: Callable[[JSON], None]
    ) -> JSON:
        """Apply ``change`` to the stored object through the update path (validation and all)."""
        with self.store.lock:
            old = self.get(rt, namespace, name)
            new = copy.deepcopy(old)
            change(new)
            return self.commit(rt, old, new, subresource="status")
