"""Namespaces left behind by pipeline runs (``ci-4711-review``), one cluster per scope.

A namespace is one resource, its id ``<cluster>/<name>``. The collector lists the
namespaces carrying the pipeline **label** (selected server-side, 500 a page), reads
labels and annotations as one set of tags (:mod:`.metadata`), and finds, per namespace,
what the policy needs: the Services that expose it, whether a quarantine reads back as
complete, and for a namespace already ``Terminating`` its deletion conditions.

``kube-system``, ``kube-public``, ``kube-node-lease``, ``default``, reaper's own namespace
and ``exclude_namespaces`` are never touched, whatever their labels: they are dropped as
they are read, and every action refuses them again.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from reaper.config import ALWAYS_EXCLUDED_NAMESPACES, TagKeys
from reaper.durations import parse_api_time
from reaper.errors import ProviderError
from reaper.lifecycle import STATE, State, StateSigner
from reaper.model import (
    Action,
    Collected,
    Decision,
    Deletion,
    Outcome,
    Resource,
    Result,
    Scope,
)
from reaper.providers.base import ResourceKind, register
from reaper.providers.kubernetes import api
from reaper.providers.kubernetes.clients import (
    CONFLICT,
    JSON,
    NOT_FOUND,
    Cluster,
    KubeApiError,
    KubeClients,
)
from reaper.providers.kubernetes.isolation import (
    Quarantine,
    read_isolation,
    release_namespace,
    terminating,
)
from reaper.providers.kubernetes.metadata import (
    QUARANTINE_ID,
    conditions_of,
    exposures_of,
    namespace_ref,
    owned_patch,
    tags_of,
)
from reaper.workers import map_bounded

log = logging.getLogger(__name__)

CHANGED = (
    "not deleted: the namespace changed since it was read (recreated, or its labels or "
    "annotations changed); the next sweep decides"
)
"""A delete refused by its preconditions (409 Conflict): skipped, not failed."""

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Read:
    """One namespace from the API as reaper read it."""

    resource: Resource | None
    """None when it is not reaper's to see (excluded, no pipeline label) or unreadable."""
    uid: str = ""
    version: str = ""
    """``metadata.resourceVersion`` as read: the condition of its delete."""
    unreadable: bool = False


@dataclass(frozen=True)
class Seen:
    """What a delete is conditional on: the namespace as reaper last read or wrote it."""

    uid: str
    """Not another namespace recreated under the same name."""
    version: str
    """``metadata.resourceVersion``: nobody changed it since (a protect label, a longer TTL)."""


def read_namespace_item(
    raw: object,
    scope: Scope,
    tags: TagKeys,
    excluded: Collection[str],
    stuck_after: timedelta,
) -> Read:
    """A listed namespace as a Resource. Pure.

    Excluded namespaces and namespaces without the pipeline label are never returned,
    whatever else they carry. Returns ``unreadable`` for items without a name, with
    labels or annotations that are not strings, or with an unreadable creation time.
    """
    if not isinstance(raw, dict):
        return Read(None, unreadable=True)
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        return Read(None, unreadable=True)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        return Read(None, unreadable=True)
    if name in excluded:
        return Read(None)
    merged = tags_of(meta, tags)
    if merged is None:
        return Read(None, unreadable=True)
    if tags.pipeline not in merged:
        return Read(None)
    created = parse_api_time(meta.get("creationTimestamp"))
    if meta.get("creationTimestamp") is not None and created is None:
        return Read(None, unreadable=True)
    deleting = None
    if terminating(raw):
        requested = parse_api_time(meta.get("deletionTimestamp")) or created
        if requested is not None:
            deleting = Deletion(requested, requested + stuck_after, conditions_of(raw))
    status = raw.get("status") or {}
    resource = Resource(
        ref=namespace_ref(scope, name),
        name=name,
        created_at=created,
        tags=merged,
        state=str(status.get("phase") or ("Terminating" if deleting else "")),
        pipeline_run=merged.get(tags.pipeline),
        owner=merged.get(tags.owner),
        deleting=deleting,
    )
    return Read(resource, str(meta.get("uid") or ""), str(meta.get("resourceVersion") or ""))


@register
class Namespaces(ResourceKind):
    provider = "kubernetes"
    kind = "namespace"
    # Resource (with its API group) and verb, as an RBAC rule grants them:
    # deploy/kubernetes/clusterrole.yaml grants exactly these (a test checks).
    permissions = (
        "namespaces:list",
        "namespaces:get",
        "namespaces:patch",
        "namespaces:delete",
        "networkpolicies.networking.k8s.io:create",
        "networkpolicies.networking.k8s.io:get",
        "networkpolicies.networking.k8s.io:delete",
        "deployments.apps:get",
        "deployments.apps:list",
        "deployments.apps:patch",
        "statefulsets.apps:get",
        "statefulsets.apps:list",
        "statefulsets.apps:patch",
        "deployments.apps/scale:patch",
        "statefulsets.apps/scale:patch",
        "cronjobs.batch:list",
        "cronjobs.batch:patch",
        "services:list",
    )
    # On the namespace; the workload records (reaper-original-replicas, -suspend) are on
    # the workloads, each signed as its own (see .metadata).
    state_tags = (QUARANTINE_ID,)
    delete_order = 60
    # <cluster>/<namespace>: a cluster name as the config takes it, a DNS-1123 label.
    id_pattern = r"[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
    id_shape = (
        "<cluster>/<namespace>, e.g. ci/ci-4711-review: a cluster name (1-63 lowercase "
        "letters, digits, '-' and '_') and a DNS-1123 namespace name (1-63 lowercase "
        "letters, digits and '-', starting and ending with a letter or digit)"
    )

    def __init__(
        self,
        clients: KubeClients,
        tags: TagKeys,
        signer: StateSigner | None = None,
        *,
        excluded: Collection[str] = (),
        stuck_after: timedelta = timedelta(hours=1),
        workers: int = 8,
    ) -> None:
        """``excluded``: namespaces never touched besides the always-excluded ones.
        ``workers``: concurrent requests of one call in one cluster."""
        self._clients = clients
        self._tags = tags
        self._signer = signer or StateSigner(None, ())
        self.excluded = frozenset((*ALWAYS_EXCLUDED_NAMESPACES, *excluded))
        self._stuck_after = stuck_after
        self._workers = workers
        self._seen: dict[str, Seen] = {}
        """By namespace id: its uid and resourceVersion, as collected or as reaper's own
        last patch left it (:meth:`_wrote`)."""
        self._restarts: dict[str, api.ListRestarts] = {}
        """Each cluster's restarts of expired lists left this sweep (:meth:`_sweep_restarts`)."""
        self._lock = threading.Lock()

    def scopes(self) -> Sequence[Scope]:
        return self._clients.scopes()

    def principal(self, scope: Scope) -> str:
        return self._clients.principal(scope)

    # -- reading -----------------------------------------------------------------------

    def begin_collection(self) -> None:
        """A new sweep: every cluster's lists get one restart again (see :class:`~.api.
        ListRestarts`)."""
        with self._lock:
            self._restarts.clear()

    def _sweep_restarts(self, scope: Scope) -> api.ListRestarts:
        """The restarts of expired lists the cluster has left this sweep: one, shared by
        its collection (namespaces, Services, each quarantine read back) and the
        quarantines that follow, until :meth:`begin_collection` starts the next sweep."""
        with self._lock:
            return self._restarts.setdefault(scope.account, api.ListRestarts())

    def collect(self, scope: Scope) -> Collected:
        self._forget_seen(scope)
        cluster = self._clients.cluster(scope)
        restarts = self._sweep_restarts(scope)
        raws = api.list_all(
            cluster, scope, "namespaces", restarts, label_selector=self._tags.pipeline
        )
        reads, skipped = self._read_all(scope, raws)
        active = {r.name for r in reads if r.deleting is None}
        exposures: dict[str, list[JSON]] = defaultdict(list)
        if active:
            for service in api.list_all(cluster, scope, "services", restarts):
                namespace = (service.get("metadata") or {}).get("namespace")
                if namespace in active:
                    exposures[namespace].append(service)
        resources = self._with_facts(cluster, scope, reads, exposures, restarts)
        return Collected(tuple(resources), skipped)

    def get(self, scope: Scope, ids: Sequence[str]) -> Collected:
        """Re-read namespaces by id (``<cluster>/<name>``); ids of other clusters, excluded
        namespaces and namespaces already terminating (their deletion went through) are
        left out. A re-read (a recovery before the sweep's collection, a release, a pinned
        apply) is no sweep's collection: its lists get one restart of their own."""
        cluster = self._clients.cluster(scope)
        restarts = api.ListRestarts()
        names = []
        for resource_id in ids:
            account, _, name = resource_id.rpartition("/")
            if account == scope.account and name and name not in self.excluded:
                names.append(name)
        raws = [
            raw
            for raw in self._map(lambda n: api.read_namespace(cluster, scope, n), names)
            if raw is not None and not terminating(raw)
        ]
        reads, skipped = self._read_all(scope, raws)
        listed = self._map(
            lambda r: api.list_in(cluster, scope, "services", r.name, restarts), reads
        )
        exposures = {r.name: services for r, services in zip(reads, listed, strict=True)}
        resources = self._with_facts(cluster, scope, reads, exposures, restarts)
        return Collected(tuple(resources), skipped)

    def _read_all(self, scope: Scope, raws: Iterable[object]) -> tuple[list[Resource], int]:
        resources: list[Resource] = []
        skipped = 0
        for raw in raws:
            read = read_namespace_item(raw, scope, self._tags, self.excluded, self._stuck_after)
            if read.unreadable:
                skipped += 1
                name = ((raw if isinstance(raw, dict) else {}).get("metadata") or {}).get("name")
                log.warning("skipping namespace %r in %s: unreadable metadata", name, scope)
            if read.resource is None:
                continue
            resources.append(read.resource)
            with self._lock:
                self._seen[read.resource.ref.id] = Seen(read.uid, read.version)
        return resources, skipped

    def _with_facts(
        self,
        cluster: Cluster,
        scope: Scope,
        resources: Sequence[Resource],
        services: Mapping[str, Sequence[JSON]],
        restarts: api.ListRestarts,
    ) -> list[Resource]:
        """Exposures from the namespaces' Services; a quarantine's isolation read back."""
        quarantined = [
            r for r in resources if r.deleting is None and r.tags.get(STATE) == State.QUARANTINED
        ]
        problems = dict(
            zip(
                (r.ref for r in quarantined),
                self._map(lambda r: read_isolation(cluster, scope, r.name, restarts), quarantined),
                strict=True,
            )
        )
        out = []
        for resource in resources:
            isolated = None
            if resource.ref in problems:
                found = problems[resource.ref]
                isolated = not found
                if found:
                    log.warning(
                        "namespace %s in %s is tagged quarantined but is not isolated (drift; "
                        "it is quarantined again): %s",
                        resource.name,
                        scope,
                        "; ".join(found),
                    )
            exposed = (
                exposures_of(services.get(resource.name, ())) if resource.deleting is None else ()
            )
            out.append(replace(resource, isolated=isolated, exposures=exposed))
        return out

    # -- tags --------------------------------------------------------------------------

    def tag(
        self, scope: Scope, resources: Sequence[Resource], tags: Mapping[str, str], action: Action
    ) -> list[Outcome]:
        """Write reaper's keys (already signed) as annotations, in a JSON merge patch that
        also removes labels of the same keys."""
        return self._patch_each(scope, resources, action, owned_patch(tags, ()))

    def untag(
        self, scope: Scope, resources: Sequence[Resource], keys: Sequence[str], action: Action
    ) -> list[Outcome]:
        """Remove keys from the annotations and the labels (see :meth:`tag`)."""
        return self._patch_each(scope, resources, action, owned_patch({}, keys))

    def _patch_each(
        self,
        scope: Scope,
        resources: Sequence[Resource],
        action: Action,
        patch: JSON,
    ) -> list[Outcome]:
        cluster = self._clients.cluster(scope)

        def one(resource: Resource) -> Outcome:
            refusal = self._refusal(resource)
            if refusal:
                return Outcome(resource.ref, action, Result.FAILED, refusal)
            try:
                self._wrote(scope, api.patch_namespace(cluster, scope, resource.name, patch))
            except KubeApiError as err:
                if err.status == NOT_FOUND:
                    return Outcome(
                        resource.ref, action, Result.ALREADY_GONE, "namespace does not exist"
                    )
                return Outcome(resource.ref, action, Result.FAILED, str(err))
            return Outcome(resource.ref, action, Result.DONE, "patched labels and annotations")

        return self._map(one, resources)

    def _forget_seen(self, scope: Scope) -> None:
        """Forget what a long-running daemon learnt about a cluster's namespaces: a sweep
        reads them all again."""
        prefix = f"{scope.account}/"
        with self._lock:
            for key in [k for k in self._seen if k.startswith(prefix)]:
                del self._seen[key]

    def _wrote(self, scope: Scope, answer: JSON) -> None:
        """A patch of reaper's own went through: its answer's resourceVersion is the one
        the namespace's delete is conditional on now (only if it is the namespace seen)."""
        meta = answer.get("metadata") or {}
        ref_id = namespace_ref(scope, str(meta.get("name") or "")).id
        with self._lock:
            seen = self._seen.get(ref_id)
            if seen is not None and seen.uid == meta.get("uid") and meta.get("resourceVersion"):
                self._seen[ref_id] = Seen(seen.uid, str(meta["resourceVersion"]))

    def _refusal(self, resource: Resource) -> str:
        if resource.name in self.excluded:
            return f"namespace {resource.name} is excluded: reaper never touches it"
        return ""

    # -- delete, quarantine, release -------------------------------------------------

    def delete(self, scope: Scope, resources: Sequence[Resource]) -> list[Outcome]:
        """DELETE each namespace (Background). It turns Terminating and goes once its
        contents and finalizers are gone: that is ``done``, in progress; a later sweep
        finds it gone, or escalates it if it is still terminating after ``stuck_after``.

        Conditional on the uid and resourceVersion collected (or left by reaper's own
        patches since): a namespace someone changed after it was read (a protect label, a
        longer TTL) or recreated under its name is ``skipped`` (409 Conflict), and the next
        sweep decides on what it then reads."""
        cluster = self._clients.cluster(scope)

        def one(resource: Resource) -> Outcome:
            ref = resource.ref
            refusal = self._refusal(resource)
            if refusal:
                return Outcome(ref, Action.DELETE, Result.FAILED, refusal)
            with self._lock:
                seen = self._seen.get(ref.id)
            try:
                answer = api.delete_namespace(
                    cluster,
                    scope,
                    resource.name,
                    seen.uid if seen else None,
                    seen.version if seen else None,
                )
            except KubeApiError as err:
                if err.status == NOT_FOUND:
                    return Outcome(
                        ref, Action.DELETE, Result.ALREADY_GONE, "namespace does not exist"
                    )
                if err.status == CONFLICT:
                    return Outcome(ref, Action.DELETE, Result.SKIPPED, CHANGED)
                return Outcome(ref, Action.DELETE, Result.FAILED, str(err))
            phase = (answer.get("status") or {}).get("phase") or "Terminating"
            return Outcome(
                ref, Action.DELETE, Result.DONE, f"{phase}: deletion in progress (Background)"
            )

        return self._map(one, resources)

    def quarantine(
        self, scope: Scope, decisions: Sequence[Decision], now: datetime
    ) -> list[Outcome]:
        cluster = self._clients.cluster(scope)
        restarts = self._sweep_restarts(scope)
        quarantine = Quarantine(
            cluster, scope, self._signer, self._tags, restarts, on_written=self._wrote
        )

        def one(decision: Decision) -> Outcome:
            refusal = self._refusal(decision.resource)
            if refusal:
                return Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, refusal)
            try:
                return quarantine.run(decision, now, decision.resource.name)
            except ProviderError as err:
                return Outcome(decision.ref, Action.QUARANTINE, Result.FAILED, str(err))

        return self._map(one, decisions)

    def release(self, scope: Scope, resource: Resource) -> Outcome:
        refusal = self._refusal(resource)
        if refusal:
            return Outcome(resource.ref, Action.RELEASE, Result.FAILED, refusal)
        cluster = self._clients.cluster(scope)
        restarts = api.ListRestarts()  # a release is no sweep: one restart of its own
        return release_namespace(cluster, scope, resource, self._signer, self._tags, restarts)

    def _map(self, call: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``call`` on every item, a few at a time; results in the items' order."""
        return map_bounded(call, items, self._workers, "reaper-kube")
